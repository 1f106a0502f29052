/* tls.h - the TLS handshake step (OpenSSL 3) over a connected cs_conn.
 *
 * The handshake records one `tls_handshakes` entry (df-006) and `tls_handshake_start` /
 * `tls_handshake_done` network events; the TLS records themselves show up as the conn's raw
 * `read`/`write` events (a custom BIO does the socket I/O through cs_conn_sock_recv/send).
 * On success the conn carries a TLS filter: cs_conn_read/cs_conn_write move plaintext.
 *
 * Trust: one cs_tls_ctx (an SSL_CTX) per CA configuration, built once and shared by every
 * handshake (building an SSL_CTX with the system store is slow). The SNI, the name verified
 * against the certificate and the ALPN list are per handshake, so the same step serves the
 * probe (SNI = URL host), SNI-blocking tests (any SNI, or none) and the control server. */
#ifndef CS_TLS_H
#define CS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/conn.h"
#include "record/record.h"

#define CS_TLS_HANDSHAKE_TIMEOUT 10.0 /* seconds (OONI) */
#define CS_TLS_MAX_PEER_CERTS 16      /* certificates recorded per handshake */

typedef struct cs_tls_ctx cs_tls_ctx;

/* Builds a client context: TLS 1.2..1.3, system default CA paths (unless no_system_cas) plus
 * every certificate of ca_file (PEM, may be NULL) as extra anchors. Returns NULL on error
 * with a message in err. Thread-safe to share across loops after creation. */
cs_tls_ctx *cs_tls_ctx_new(const char *ca_file, bool no_system_cas, char *err, size_t errlen);
void cs_tls_ctx_free(cs_tls_ctx *x);
/* Process-wide cache: one context per ca_file (NULL or "": system store only), built on
 * first use and then shared; thread-safe. Returns NULL (message in err) when it cannot be
 * built. Contexts live until cs_tls_ctx_shared_cleanup() (call once at exit). */
cs_tls_ctx *cs_tls_ctx_shared(const char *ca_file, char *err, size_t errlen);
void cs_tls_ctx_shared_cleanup(void);

typedef struct {
  const char *sni;         /* server_name sent; NULL or "": no SNI extension */
  const char *verify_name; /* name the certificate must match; NULL: the SNI; "" (or NULL
                              with no SNI): chain verification only */
  bool no_verify;          /* accept any certificate; recorded as no_tls_verify=true */
  const char *const *alpn; /* ALPN protocols offered; NULL: {"h2", "http/1.1"} (OONI) */
  size_t nalpn;            /* with alpn != NULL; 0 with alpn != NULL: no ALPN extension */
  double timeout;          /* seconds; <= 0: CS_TLS_HANDSHAKE_TIMEOUT */
} cs_tls_opts;

/* rec: the recorded tls_handshakes entry (NULL only if the trace arena is exhausted).
 * failure: NULL on success, else the OONI failure string (== rec->failure). */
typedef void (*cs_tls_cb)(cs_conn *c, const cs_tls_rec *rec, const char *failure, void *data);

/* Starts the handshake on a connected conn without a filter yet. Returns -1 (nothing
 * recorded, cb not called) on misuse or out of memory; otherwise cb runs later. After a
 * failure the conn is unusable except for cs_conn_free. */
int cs_tls_handshake(cs_conn *c, cs_tls_ctx *x, const cs_tls_opts *o, cs_tls_cb cb, void *data);

/* The negotiated ALPN protocol of a conn's TLS filter ("" when none or not TLS). */
const char *cs_tls_alpn(const cs_conn *c);

/* Maps an X509_V_ERR_* verify result to an OONI failure string (ssl_invalid_hostname,
 * ssl_unknown_authority, ssl_invalid_certificate); NULL for X509_V_OK. */
const char *cs_tls_verify_failure(long verify_result);

/* Verifies a recorded chain (leaf first, the rest untrusted intermediates) against the
 * anchors of x for a TLS server, without a name check (the forensics: is the chain the probe
 * saw anchored in the system store or only in --ca-file?). Returns X509_V_OK (0) when it is
 * anchored in x, else the X509_V_ERR_* code, or -1 on misuse, unparsable input or out of
 * memory. */
long cs_tls_chain_verify(cs_tls_ctx *x, const cs_cert_der *chain, size_t n);

#endif
