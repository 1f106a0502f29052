/* tcp_servers.h - small misbehaving TCP/TLS/HTTP servers on 127.0.0.1 for the conn, tls and
 * http tests (curl tests/server style), plus a throw-away PKI generated with the OpenSSL API.
 *
 * Each server runs in its own thread, listens on an ephemeral loopback port and serves
 * connections one after another with the configured behaviour until tsrv_stop(). Nothing
 * here ever talks to a non-loopback address. */
#ifndef CS_TEST_TCP_SERVERS_H
#define CS_TEST_TCP_SERVERS_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  TSRV_RST,         /* read once (e.g. the ClientHello), then RST (SO_LINGER {1,0} + close) */
  TSRV_FIN,         /* read once, then FIN (shutdown(SHUT_WR)), drain, close */
  TSRV_STALL,       /* accept, read and discard, never answer */
  TSRV_RESPOND,     /* read the request head (up to CRLFCRLF), write `resp`, then close
                       (or stall when stall_after) */
  TSRV_ACCEPT_CLOSE /* accept and close immediately without reading */
} tsrv_mode;

typedef struct {
  tsrv_mode mode;
  const uint8_t *resp; /* TSRV_RESPOND: bytes to write (copied) */
  size_t resp_len;
  bool stall_after;   /* TSRV_RESPOND: keep the connection open after writing */
  bool no_wait_head;  /* TSRV_RESPOND: answer after the first read, not after CRLFCRLF */
  SSL_CTX *tls;       /* non-NULL: a TLS server (mode applies after the handshake) */
  size_t chunk;       /* TSRV_RESPOND: > 0: write `resp` in pieces of this size ... */
  int chunk_delay_ms; /* ... sleeping this long before each piece after the first (a slow
                         sender, e.g. for the speed samples) */
} tsrv_cfg;

typedef struct tsrv tsrv;

tsrv *tsrv_start(const tsrv_cfg *cfg);
uint16_t tsrv_port(const tsrv *s);
int tsrv_connections(const tsrv *s); /* connections accepted so far */
/* The raw request bytes received on the last connection (NUL-terminated copy). */
const char *tsrv_last_request(tsrv *s, size_t *len);
void tsrv_stop(tsrv *s);

/* A loopback port with nothing listening (bound, then closed): connect -> ECONNREFUSED. */
uint16_t tsrv_closed_port(void);

/* ---- test PKI -------------------------------------------------------------------------- */
typedef enum {
  TSRV_CERT_GOOD,       /* signed by the test CA, valid now, SAN = host */
  TSRV_CERT_EXPIRED,    /* signed by the test CA, expired yesterday */
  TSRV_CERT_WRONG_HOST, /* signed by the test CA, SAN = "wrong.example" */
  TSRV_CERT_UNKNOWN_CA, /* signed by another CA that no client trusts */
  TSRV_CERT_SELF_SIGNED /* self-signed leaf */
} tsrv_cert_kind;

typedef struct {
  EVP_PKEY *ca_key, *other_key;
  X509 *ca, *other_ca;
  char ca_file[64]; /* PEM of the test CA, for cs_tls_ctx_new(ca_file) */
} tsrv_pki;

int tsrv_pki_init(tsrv_pki *pki);
void tsrv_pki_free(tsrv_pki *pki);
/* A server SSL_CTX presenting a leaf of the given kind for `host` (chain: leaf + issuing CA;
 * an IP address as host gets an IP subjectAltName, a name a DNS one).
 * alpn: protocols the server accepts (comma list, e.g. "http/1.1"), or NULL for none. */
SSL_CTX *tsrv_server_ctx(tsrv_pki *pki, const char *host, tsrv_cert_kind kind, const char *alpn);

#endif
