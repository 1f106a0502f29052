/* tls.c - the TLS handshake step and the TLS connection filter (OpenSSL 3). See tls.h.
 *
 * OpenSSL does its socket I/O through a custom BIO whose read/write call
 * cs_conn_sock_recv/cs_conn_sock_send, so every TLS record on the wire is a recorded network
 * event and socket-level failures (RST, EOF) are known precisely when classifying an error.
 * Read-ahead is on so OpenSSL reads whole socket buffers instead of 5-byte record headers. */
#include "engine/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/failure.h"
#include "util/timeutil.h"

struct cs_tls_ctx {
  SSL_CTX *ctx;
};

/* ---- context --------------------------------------------------------------------------- */

/* Whether dir holds OpenSSL's hashed names (c_rehash / update-ca-certificates: "5ad8a5d6.0"). */
static bool hashed_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return false;
  bool found = false;
  for (struct dirent *e; !found && (e = readdir(d));) {
    const char *n = e->d_name;
    size_t l = strlen(n);
    found = l == 10 && n[8] == '.' && n[9] == '0' && strspn(n, "0123456789abcdef") == 8;
  }
  closedir(d);
  return found;
}

/* Whether a and b name the same file (through symlinks). */
static bool same_file(const char *a, const char *b) {
  char ra[PATH_MAX], rb[PATH_MAX];
  return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* The system trust store, as SSL_CTX_set_default_verify_paths would set it ($SSL_CERT_FILE,
 * $SSL_CERT_DIR, then OpenSSL's defaults), except that the default bundle file is not
 * parsed when the default certificate directory holds hashed names: that directory is the
 * same set of CAs (update-ca-certificates writes both), and through it OpenSSL reads only
 * the CAs a chain needs, when it needs them, instead of parsing about 140 at start-up
 * (~1 MB of heap and ~40 ms of CPU for every run). $SSL_CERT_FILE naming the default
 * bundle (as some environments set it) is the default; any other file is loaded. */
static int system_cas(SSL_CTX *ctx) {
  const char *file = getenv(X509_get_default_cert_file_env());
  const char *dir = getenv(X509_get_default_cert_dir_env());
  const char *ddir = X509_get_default_cert_dir(), *dfile = X509_get_default_cert_file();
  if (file && *file && !same_file(file, dfile)) {
    if (SSL_CTX_load_verify_file(ctx, file) != 1) ERR_clear_error(); /* as OpenSSL: optional */
  } else if (!hashed_dir(dir && *dir ? dir : ddir)) {
    if (SSL_CTX_load_verify_file(ctx, dfile) != 1) ERR_clear_error();
  }
  if (SSL_CTX_load_verify_dir(ctx, dir && *dir ? dir : ddir) != 1) ERR_clear_error();
  return 0;
}

cs_tls_ctx *cs_tls_ctx_new(const char *ca_file, bool no_system_cas, char *err, size_t errlen) {
  if (errlen) err[0] = 0;
  cs_tls_ctx *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->ctx = SSL_CTX_new(TLS_client_method());
  if (!x->ctx) goto fail;
  SSL_CTX_set_min_proto_version(x->ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_read_ahead(x->ctx, 1);
  /* record buffers (~17 KiB each way) are freed whenever they are empty: hundreds of
   * connections mostly wait, and none should hold 34 KiB to do so */
  SSL_CTX_set_mode(x->ctx, SSL_MODE_RELEASE_BUFFERS);
  /* A peer closing without close_notify ends a read-until-close body normally (as in Go). */
  SSL_CTX_set_options(x->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(x->ctx, SSL_SESS_CACHE_OFF); /* independent measurements */
  if (!no_system_cas && system_cas(x->ctx) < 0) goto fail;
  if (ca_file && *ca_file && SSL_CTX_load_verify_locations(x->ctx, ca_file, NULL) != 1) {
    if (errlen) snprintf(err, errlen, "cannot load CA file %s", ca_file);
    goto fail2;
  }
  return x;
fail:
  if (errlen) snprintf(err, errlen, "SSL_CTX setup failed");
fail2:
  if (errlen && ERR_peek_error()) {
    size_t l = strlen(err);
    snprintf(err + l, errlen - l, ": %s", ERR_reason_error_string(ERR_peek_error()));
  }
  ERR_clear_error();
  cs_tls_ctx_free(x);
  return NULL;
}

void cs_tls_ctx_free(cs_tls_ctx *x) {
  if (!x) return;
  SSL_CTX_free(x->ctx);
  free(x);
}

/* The shared cache: a short list (one entry per distinct --ca-file, in practice 1 or 2). */
typedef struct shared_ent {
  struct shared_ent *next;
  char *ca_file;
  cs_tls_ctx *x;
} shared_ent;
static shared_ent *g_shared;
static pthread_mutex_t g_shared_mu = PTHREAD_MUTEX_INITIALIZER;

cs_tls_ctx *cs_tls_ctx_shared(const char *ca_file, char *err, size_t errlen) {
  const char *key = ca_file ? ca_file : "";
  cs_tls_ctx *x = NULL;
  pthread_mutex_lock(&g_shared_mu);
  for (shared_ent *e = g_shared; e; e = e->next)
    if (!strcmp(e->ca_file, key)) x = e->x;
  if (!x) {
    shared_ent *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    x = e && k ? cs_tls_ctx_new(*key ? key : NULL, false, err, errlen) : NULL;
    if (x) {
      e->ca_file = k, e->x = x, e->next = g_shared;
      g_shared = e;
    } else {
      free(e);
      free(k);
    }
  }
  pthread_mutex_unlock(&g_shared_mu);
  return x;
}

void cs_tls_ctx_shared_cleanup(void) {
  pthread_mutex_lock(&g_shared_mu);
  while (g_shared) {
    shared_ent *e = g_shared;
    g_shared = e->next;
    cs_tls_ctx_free(e->x);
    free(e->ca_file);
    free(e);
  }
  pthread_mutex_unlock(&g_shared_mu);
}

/* ---- the BIO over cs_conn's socket primitives ------------------------------------------- */

static BIO_METHOD *g_bio_method;
static pthread_once_t g_bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *buf, int len) {
  cs_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  const char *f = NULL;
  ssize_t n = cs_conn_sock_recv(c, buf, (size_t)len, &f);
  if (n == CS_CONN_AGAIN) {
    BIO_set_retry_read(b);
    return -1;
  }
  return n == CS_CONN_ERR ? -1 : (int)n;
}

static int bio_write(BIO *b, const char *buf, int len) {
  cs_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  const char *f = NULL;
  ssize_t n = cs_conn_sock_send(c, buf, (size_t)len, &f);
  if (n == CS_CONN_AGAIN) {
    BIO_set_retry_write(b);
    return -1;
  }
  return n == CS_CONN_ERR ? -1 : (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b, (void)num, (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cs_conn");
  if (!m) return;
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  g_bio_method = m;
}

/* ---- failure classification (OONI ClassifyTLSHandshakeError, see docs/engine-conn.md) ---- */

const char *cs_tls_verify_failure(long v) {
  switch (v) {
  case X509_V_OK: return NULL;
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH: return cs_failure_str(CS_FAIL_SSL_INVALID_HOSTNAME);
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    return cs_failure_str(CS_FAIL_SSL_UNKNOWN_AUTHORITY);
  default: return cs_failure_str(CS_FAIL_SSL_INVALID_CERTIFICATE);
  }
}

/* A TLS alert received from the peer, per OONI's QUIC/TLS alert table:
 * 112 unrecognized_name -> ssl_invalid_hostname; 42-46 -> ssl_invalid_certificate;
 * 48 unknown_ca -> ssl_unknown_authority; others -> ssl_failed_handshake. */
static const char *alert_failure(int alert) {
  if (alert == 112) return cs_failure_str(CS_FAIL_SSL_INVALID_HOSTNAME);
  if (alert >= 42 && alert <= 46) return cs_failure_str(CS_FAIL_SSL_INVALID_CERTIFICATE);
  if (alert == 48) return cs_failure_str(CS_FAIL_SSL_UNKNOWN_AUTHORITY);
  return cs_failure_str(CS_FAIL_SSL_FAILED_HANDSHAKE);
}

static const char *unknown(cs_trace *t, const char *detail) {
  char out[256];
  cs_failure_unknown(out, sizeof out, detail);
  const char *s = cs_arena_strdup(t->a, out);
  return s ? s : cs_failure_str(CS_FAIL_UNKNOWN);
}

/* Classifies a fatal SSL_get_error() result. Order: certificate verification, socket-level
 * failure (RST...), EOF, received alert, then OpenSSL's reason. Clears the error queue. */
static const char *classify(cs_conn *c, SSL *ssl, int sslerr) {
  cs_conn_sock_state_t st = cs_conn_sock_state(c);
  unsigned long e = ERR_peek_error();
  const char *f = NULL;
  long vr = SSL_get_verify_result(ssl);
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
      vr != X509_V_OK)
    f = cs_tls_verify_failure(vr);
  else if (st.failure) f = st.failure;
  else if (st.eof || (sslerr == SSL_ERROR_SYSCALL && !e) || sslerr == SSL_ERROR_ZERO_RETURN ||
           (e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
            ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
    f = cs_failure_str(CS_FAIL_EOF_ERROR);
  else if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET &&
           ERR_GET_REASON(e) < SSL_AD_REASON_OFFSET + 256)
    f = alert_failure(ERR_GET_REASON(e) - SSL_AD_REASON_OFFSET);
  else if (e) {
    const char *r = ERR_reason_error_string(e);
    f = unknown(cs_conn_trace(c), r ? r : "tls handshake failed");
  } else {
    f = cs_failure_str(CS_FAIL_SSL_FAILED_HANDSHAKE);
  }
  ERR_clear_error();
  return f;
}

/* ---- the filter + handshake state --------------------------------------------------------- */

typedef struct {
  cs_conn *c;
  SSL *ssl;
  bool ready; /* handshake completed */
  bool failed;
  /* handshake */
  cs_timer timer;
  cs_defer defer;
  double t0;
  bool no_verify;
  const char *sni; /* trace arena */
  cs_tls_cb cb;
  void *data;
  const char *alpn; /* negotiated, trace arena */
} tls_filter;

static ssize_t f_recv(void *ctx, cs_conn *c, void *p, size_t n, unsigned *want,
                      const char **failure) {
  tls_filter *tf = ctx;
  if (!tf->ready || tf->failed) {
    *failure = cs_failure_str(CS_FAIL_CONNECTION_ALREADY_CLOSED);
    return CS_CONN_ERR;
  }
  size_t got = 0;
  ERR_clear_error();
  if (SSL_read_ex(tf->ssl, p, n, &got) == 1) return (ssize_t)got;
  int e = SSL_get_error(tf->ssl, 0);
  switch (e) {
  case SSL_ERROR_WANT_READ: *want = CS_EV_READ; return CS_CONN_AGAIN;
  case SSL_ERROR_WANT_WRITE: *want = CS_EV_WRITE; return CS_CONN_AGAIN;
  case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return 0; /* close_notify or EOF */
  default: {
    cs_conn_sock_state_t st = cs_conn_sock_state(c);
    if (st.eof && !st.failure) {
      ERR_clear_error();
      return 0;
    }
    *failure = classify(c, tf->ssl, e);
    tf->failed = true;
    return CS_CONN_ERR;
  }
  }
}

static ssize_t f_send(void *ctx, cs_conn *c, const void *p, size_t n, unsigned *want,
                      const char **failure) {
  tls_filter *tf = ctx;
  if (!tf->ready || tf->failed) {
    *failure = cs_failure_str(CS_FAIL_CONNECTION_ALREADY_CLOSED);
    return CS_CONN_ERR;
  }
  size_t put = 0;
  ERR_clear_error();
  if (SSL_write_ex(tf->ssl, p, n, &put) == 1) return (ssize_t)put;
  int e = SSL_get_error(tf->ssl, 0);
  switch (e) {
  case SSL_ERROR_WANT_READ: *want = CS_EV_READ; return CS_CONN_AGAIN;
  case SSL_ERROR_WANT_WRITE: *want = CS_EV_WRITE; return CS_CONN_AGAIN;
  default:
    *failure = classify(c, tf->ssl, e);
    tf->failed = true;
    return CS_CONN_ERR;
  }
}

static void f_destroy(void *ctx) {
  tls_filter *tf = ctx;
  cs_loop *l = cs_conn_loop(tf->c);
  cs_timer_stop(l, &tf->timer);
  cs_defer_cancel(l, &tf->defer);
  SSL_free(tf->ssl); /* frees the BIO too */
  free(tf);
}

static const cs_conn_filter_ops g_tls_ops = {"tls", f_recv, f_send, f_destroy};

const char *cs_tls_alpn(const cs_conn *c) {
  const tls_filter *tf = cs_conn_filter_ctx(c, &g_tls_ops);
  return tf && tf->alpn ? tf->alpn : "";
}

/* ---- handshake ------------------------------------------------------------------------- */

static void hs_finish(tls_filter *tf, const char *failure) {
  cs_conn *c = tf->c;
  cs_trace *t = cs_conn_trace(c);
  cs_loop *l = cs_conn_loop(c);
  double now = cs_mono_now();
  cs_timer_stop(l, &tf->timer);
  cs_defer_cancel(l, &tf->defer);
  cs_conn_wait(c, 0, NULL, NULL);
  cs_conn_annotate(c, "tls_handshake_done", now);
  cs_tls_rec *r = cs_trace_add_tls(t);
  if (r) {
    cs_conn_fill_common(c, &r->c, tf->t0, now);
    r->network = "tcp";
    r->address = cs_conn_address(c);
    r->failure = failure;
    r->server_name = tf->sni;
    r->no_tls_verify = tf->no_verify;
    r->cipher_suite = r->tls_version = r->negotiated_protocol = ""; /* OONI on failure */
    if (!failure) {
      const SSL_CIPHER *ci = SSL_get_current_cipher(tf->ssl);
      const char *std = ci ? SSL_CIPHER_standard_name(ci) : NULL;
      r->cipher_suite = cs_arena_strdup(t->a, std ? std : "");
      r->tls_version = cs_arena_strdup(t->a, SSL_get_version(tf->ssl));
      const unsigned char *ap = NULL;
      unsigned al = 0;
      SSL_get0_alpn_selected(tf->ssl, &ap, &al);
      r->negotiated_protocol = cs_arena_strndup(t->a, ap ? (const char *)ap : "", al);
      tf->alpn = r->negotiated_protocol;
    }
    /* Peer certificates, leaf first, recorded even when verification failed (the chain
     * is stored in the session before it is verified). */
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(tf->ssl);
    int nc = chain ? sk_X509_num(chain) : 0;
    if (nc > CS_TLS_MAX_PEER_CERTS) nc = CS_TLS_MAX_PEER_CERTS;
    if (nc > 0) {
      r->peer_certificates = cs_arena_alloc(t->a, (size_t)nc * sizeof *r->peer_certificates);
      for (int i = 0; r->peer_certificates && i < nc; i++) {
        unsigned char *der = NULL;
        int dl = i2d_X509(sk_X509_value(chain, i), &der);
        if (dl <= 0) continue;
        uint8_t *cp = cs_arena_memdup(t->a, der, (size_t)dl);
        OPENSSL_free(der);
        if (!cp) break;
        r->peer_certificates[r->npeer_certificates].der = cp;
        r->peer_certificates[r->npeer_certificates].len = (size_t)dl;
        r->npeer_certificates++;
      }
    }
  }
  tf->ready = failure == NULL;
  tf->failed = failure != NULL;
  ERR_clear_error();
  cs_tls_cb cb = tf->cb;
  tf->cb = NULL;
  cb(c, r, failure, tf->data); /* may free c (and tf) */
}

static void hs_step(tls_filter *tf);

static void hs_ready(cs_conn *c, void *data) {
  (void)c;
  hs_step(data);
}
static void hs_kick(cs_defer *d) { hs_step(d->data); }

static void hs_timeout(cs_timer *t) {
  tls_filter *tf = t->data;
  /* Go's deadline fails the pending read (or write): record it like that. */
  cs_conn_sock_timeout(tf->c, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT));
  hs_finish(tf, cs_failure_str(CS_FAIL_GENERIC_TIMEOUT));
}

static void hs_step(tls_filter *tf) {
  ERR_clear_error();
  int rc = SSL_do_handshake(tf->ssl);
  if (rc == 1) {
    hs_finish(tf, NULL);
    return;
  }
  int e = SSL_get_error(tf->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    cs_conn_wait(tf->c, e == SSL_ERROR_WANT_READ ? CS_EV_READ : CS_EV_WRITE, hs_ready, tf);
    return;
  }
  hs_finish(tf, classify(tf->c, tf->ssl, e));
}

static bool is_ip_literal(const char *s) {
  cs_ip ip;
  return cs_ip_parse(s, &ip);
}

int cs_tls_handshake(cs_conn *c, cs_tls_ctx *x, const cs_tls_opts *o, cs_tls_cb cb, void *data) {
  cs_tls_opts def = {0};
  if (!o) o = &def;
  if (!c || !x || !cb || cs_conn_is_tls(c) || !cs_conn_connected(c)) return -1;
  pthread_once(&g_bio_once, bio_method_init);
  if (!g_bio_method) return -1;
  cs_trace *t = cs_conn_trace(c);
  tls_filter *tf = calloc(1, sizeof *tf);
  if (!tf) return -1;
  tf->c = c, tf->cb = cb, tf->data = data, tf->no_verify = o->no_verify;
  tf->ssl = SSL_new(x->ctx);
  BIO *bio = BIO_new(g_bio_method);
  if (!tf->ssl || !bio) goto fail;
  BIO_set_data(bio, c);
  SSL_set_bio(tf->ssl, bio, bio); /* the SSL owns the BIO from here on */
  bio = NULL;
  SSL_set_connect_state(tf->ssl);

  const char *sni = o->sni && *o->sni ? o->sni : NULL;
  tf->sni = cs_arena_strdup(t->a, sni ? sni : "");
  if (sni && SSL_set_tlsext_host_name(tf->ssl, sni) != 1) goto fail;
  const char *vname = o->verify_name ? o->verify_name : sni;
  if (o->no_verify) {
    SSL_set_verify(tf->ssl, SSL_VERIFY_NONE, NULL);
  } else if (vname && *vname) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(tf->ssl);
    int ok;
    if (is_ip_literal(vname)) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(vp, vname);
    } else {
      X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = X509_VERIFY_PARAM_set1_host(vp, vname, 0);
    }
    if (ok != 1) goto fail;
  }
  /* ALPN wire format: length-prefixed protocol names (RFC 7301 §3.1). */
  static const char *const def_alpn[] = {"h2", "http/1.1"};
  const char *const *alpn = o->alpn ? o->alpn : def_alpn;
  size_t nalpn = o->alpn ? o->nalpn : 2;
  if (nalpn) {
    unsigned char wire[256];
    size_t wl = 0;
    for (size_t i = 0; i < nalpn; i++) {
      size_t l = strlen(alpn[i]);
      if (l == 0 || l > 255 || wl + 1 + l > sizeof wire) goto fail;
      wire[wl++] = (unsigned char)l;
      memcpy(wire + wl, alpn[i], l);
      wl += l;
    }
    if (SSL_set_alpn_protos(tf->ssl, wire, (unsigned)wl) != 0) goto fail;
  }
  cs_conn_set_filter(c, &g_tls_ops, tf);
  tf->t0 = cs_mono_now();
  cs_conn_annotate(c, "tls_handshake_start", tf->t0);
  cs_loop *l = cs_conn_loop(c);
  cs_timer_start(l, &tf->timer, o->timeout > 0 ? o->timeout : CS_TLS_HANDSHAKE_TIMEOUT, hs_timeout,
                 tf);
  cs_defer_call(l, &tf->defer, hs_kick, tf);
  return 0;
fail:
  BIO_free(bio);
  SSL_free(tf->ssl);
  free(tf);
  ERR_clear_error();
  return -1;
}

/* ---- chain verification (forensics) ----------------------------------------------------- */

static X509 *der_x509(const cs_cert_der *c) {
  if (!c->der || !c->len || c->len > (1u << 20)) return NULL;
  const unsigned char *p = c->der;
  return d2i_X509(NULL, &p, (long)c->len);
}

long cs_tls_chain_verify(cs_tls_ctx *x, const cs_cert_der *chain, size_t n) {
  if (!x || !chain || !n || n > CS_TLS_MAX_PEER_CERTS) return -1;
  long rc = -1;
  X509 *leaf = der_x509(&chain[0]);
  STACK_OF(X509) *rest = sk_X509_new_null();
  X509_STORE_CTX *vc = X509_STORE_CTX_new();
  if (!leaf || !rest || !vc) goto out;
  for (size_t i = 1; i < n; i++) {
    X509 *c = der_x509(&chain[i]);
    if (!c) goto out;
    if (!sk_X509_push(rest, c)) {
      X509_free(c);
      goto out;
    }
  }
  if (X509_STORE_CTX_init(vc, SSL_CTX_get_cert_store(x->ctx), leaf, rest) != 1) goto out;
  X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER);
  rc = X509_verify_cert(vc) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(vc);
  if (rc == X509_V_OK) rc = 0;
  else if (rc < 0) rc = -1;
out:
  X509_STORE_CTX_free(vc);
  sk_X509_pop_free(rest, X509_free);
  X509_free(leaf);
  ERR_clear_error();
  return rc;
}
