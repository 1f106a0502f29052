/* tcp_servers.c - misbehaving loopback servers and a test PKI (see tcp_servers.h). */
#include "tcp_servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct tsrv {
  tsrv_cfg cfg;
  uint8_t *resp;
  int lfd;
  uint16_t port;
  int stopfd[2];
  pthread_t th;
  pthread_mutex_t mu;
  int nconn;
  char *lastreq;
  size_t lastreq_len;
};

/* 1: fd readable; 0: stop requested or timeout. */
static int wait_readable(tsrv *s, int fd, int ms) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {s->stopfd[0], POLLIN, 0}};
  int r = poll(p, 2, ms);
  if (r <= 0 || (p[1].revents & POLLIN)) return 0;
  return 1;
}

typedef struct {
  int fd;
  SSL *ssl;
} io_t;

static ssize_t io_read(io_t *io, void *b, size_t n) {
  if (io->ssl) {
    size_t got = 0;
    return SSL_read_ex(io->ssl, b, n, &got) == 1 ? (ssize_t)got : -1;
  }
  return recv(io->fd, b, n, 0);
}

static bool io_write_all(io_t *io, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w;
    if (io->ssl) {
      size_t put = 0;
      w = SSL_write_ex(io->ssl, p, n, &put) == 1 ? (ssize_t)put : -1;
    } else {
      w = send(io->fd, p, n, MSG_NOSIGNAL);
    }
    if (w <= 0) return false;
    p += w, n -= (size_t)w;
  }
  return true;
}

static void drain(tsrv *s, io_t *io, int ms) {
  uint8_t b[4096];
  while (wait_readable(s, io->fd, ms) == 1 && io_read(io, b, sizeof b) > 0) {
  }
}

static void stall(tsrv *s, io_t *io) {
  uint8_t b[4096];
  for (;;) {
    struct pollfd p[2] = {{io->fd, POLLIN, 0}, {s->stopfd[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0 || p[1].revents) return; /* stop requested */
    if (io_read(io, b, sizeof b) <= 0) return;
  }
}

static void handle(tsrv *s, int fd) {
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  io_t io = {fd, NULL};
  if (s->cfg.mode == TSRV_ACCEPT_CLOSE) {
    close(fd);
    return;
  }
  if (s->cfg.tls) {
    io.ssl = SSL_new(s->cfg.tls);
    SSL_set_fd(io.ssl, fd);
    if (SSL_accept(io.ssl) != 1) {
      ERR_clear_error();
      SSL_free(io.ssl);
      close(fd);
      return;
    }
  }
  uint8_t b[65536];
  switch (s->cfg.mode) {
  case TSRV_RST: {
    if (wait_readable(s, fd, 3000) == 1) (void)io_read(&io, b, sizeof b);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    break;
  }
  case TSRV_FIN:
    if (wait_readable(s, fd, 3000) == 1) (void)io_read(&io, b, sizeof b);
    shutdown(fd, SHUT_WR);
    drain(s, &io, 1000);
    break;
  case TSRV_STALL: stall(s, &io); break;
  case TSRV_RESPOND: {
    size_t got = 0;
    while (got < sizeof b - 1) {
      if (!io.ssl || SSL_pending(io.ssl) == 0)
        if (wait_readable(s, fd, 3000) != 1) break;
      ssize_t r = io_read(&io, b + got, sizeof b - 1 - got);
      if (r <= 0) break;
      got += (size_t)r;
      b[got] = 0;
      if (s->cfg.no_wait_head || strstr((char *)b, "\r\n\r\n")) break;
    }
    pthread_mutex_lock(&s->mu);
    free(s->lastreq);
    s->lastreq = malloc(got + 1);
    if (s->lastreq) memcpy(s->lastreq, b, got), s->lastreq[got] = 0, s->lastreq_len = got;
    pthread_mutex_unlock(&s->mu);
    bool wrote = true;
    if (s->cfg.chunk > 0) { /* a slow sender: pieces with pauses (stops early on tsrv_stop) */
      for (size_t off = 0; wrote && off < s->cfg.resp_len; off += s->cfg.chunk) {
        if (off > 0) {
          struct pollfd p = {s->stopfd[0], POLLIN, 0};
          if (poll(&p, 1, s->cfg.chunk_delay_ms) != 0) {
            wrote = false;
            break;
          }
        }
        size_t n = s->cfg.resp_len - off < s->cfg.chunk ? s->cfg.resp_len - off : s->cfg.chunk;
        wrote = io_write_all(&io, s->resp + off, n);
      }
    } else {
      wrote = io_write_all(&io, s->resp, s->cfg.resp_len);
    }
    if (wrote) {
      if (s->cfg.stall_after) {
        stall(s, &io);
      } else {
        if (io.ssl) SSL_shutdown(io.ssl);
        shutdown(fd, SHUT_WR);
        drain(s, &io, 1000);
      }
    }
    break;
  }
  default: break;
  }
  if (io.ssl) {
    ERR_clear_error();
    SSL_free(io.ssl);
  }
  close(fd);
}

static void *srv_main(void *arg) {
  tsrv *s = arg;
  for (;;) {
    if (wait_readable(s, s->lfd, -1) != 1) break;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) continue;
    pthread_mutex_lock(&s->mu);
    s->nconn++;
    pthread_mutex_unlock(&s->mu);
    handle(s, fd);
  }
  OPENSSL_thread_stop();
  return NULL;
}

static int listen_loopback(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

tsrv *tsrv_start(const tsrv_cfg *cfg) {
  signal(SIGPIPE, SIG_IGN);
  tsrv *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  if (cfg->resp_len) {
    s->resp = malloc(cfg->resp_len);
    if (!s->resp) {
      free(s);
      return NULL;
    }
    memcpy(s->resp, cfg->resp, cfg->resp_len);
  }
  if (cfg->tls) SSL_CTX_up_ref(cfg->tls);
  pthread_mutex_init(&s->mu, NULL);
  s->lfd = listen_loopback(&s->port);
  if (s->lfd < 0 || pipe(s->stopfd) < 0 || pthread_create(&s->th, NULL, srv_main, s) != 0) {
    abort(); /* test infrastructure failure */
  }
  return s;
}

uint16_t tsrv_port(const tsrv *s) { return s->port; }

int tsrv_connections(const tsrv *s) {
  pthread_mutex_lock((pthread_mutex_t *)&s->mu);
  int n = s->nconn;
  pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
  return n;
}

const char *tsrv_last_request(tsrv *s, size_t *len) {
  pthread_mutex_lock(&s->mu);
  const char *r = s->lastreq;
  if (len) *len = s->lastreq_len;
  pthread_mutex_unlock(&s->mu);
  return r;
}

void tsrv_stop(tsrv *s) {
  if (!s) return;
  char c = 'x';
  if (write(s->stopfd[1], &c, 1) != 1) abort();
  pthread_join(s->th, NULL);
  close(s->stopfd[0]);
  close(s->stopfd[1]);
  close(s->lfd);
  if (s->cfg.tls) SSL_CTX_free(s->cfg.tls);
  pthread_mutex_destroy(&s->mu);
  free(s->lastreq);
  free(s->resp);
  free(s);
}

uint16_t tsrv_closed_port(void) {
  uint16_t port = 0;
  int fd = listen_loopback(&port);
  if (fd >= 0) close(fd);
  return port;
}

/* ---- PKI --------------------------------------------------------------------------------- */

static EVP_PKEY *gen_key(void) { return EVP_EC_gen("P-256"); }

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ex) abort();
  X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long not_before, long not_after, bool ca, const char *san) {
  static long serial = 1000;
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), __atomic_add_fetch(&serial, 1, __ATOMIC_SEQ_CST));
  X509_gmtime_adj(X509_getm_notBefore(x), not_before);
  X509_gmtime_adj(X509_getm_notAfter(x), not_after);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"censorscope test", -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509 *iss = issuer ? issuer : x;
  if (ca) {
    add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, iss, NID_basic_constraints, "CA:FALSE");
    add_ext(x, iss, NID_ext_key_usage, "serverAuth");
    if (san) add_ext(x, iss, NID_subject_alt_name, san);
  }
  add_ext(x, iss, NID_subject_key_identifier, "hash");
  if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) abort();
  return x;
}

int tsrv_pki_init(tsrv_pki *pki) {
  memset(pki, 0, sizeof *pki);
  pki->ca_key = gen_key();
  pki->other_key = gen_key();
  if (!pki->ca_key || !pki->other_key) return -1;
  pki->ca =
      make_cert(pki->ca_key, "censorscope test CA", NULL, NULL, -3600, 86400L * 30, true, NULL);
  pki->other_ca =
      make_cert(pki->other_key, "untrusted test CA", NULL, NULL, -3600, 86400L * 30, true, NULL);
  snprintf(pki->ca_file, sizeof pki->ca_file, "/tmp/cs-test-ca-%d-XXXXXX", (int)getpid());
  int fd = mkstemp(pki->ca_file);
  if (fd < 0) return -1;
  FILE *f = fdopen(fd, "w");
  if (!f) return -1;
  PEM_write_X509(f, pki->ca);
  fclose(f);
  return 0;
}

void tsrv_pki_free(tsrv_pki *pki) {
  if (pki->ca_file[0]) unlink(pki->ca_file);
  X509_free(pki->ca);
  X509_free(pki->other_ca);
  EVP_PKEY_free(pki->ca_key);
  EVP_PKEY_free(pki->other_key);
  memset(pki, 0, sizeof *pki);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl;
  const char *list = arg; /* comma-separated, server preference order */
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    for (unsigned i = 0; i < inlen;) {
      unsigned pl = in[i];
      if (i + 1 + pl > inlen) break;
      if (pl == l && memcmp(in + i + 1, p, l) == 0) {
        *out = in + i + 1;
        *outlen = (unsigned char)pl;
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + pl;
    }
    p += l + (e ? 1 : 0);
  }
  return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *tsrv_server_ctx(tsrv_pki *pki, const char *host, tsrv_cert_kind kind, const char *alpn) {
  EVP_PKEY *key = gen_key();
  char san[300];
  const char *name = kind == TSRV_CERT_WRONG_HOST ? "wrong.example" : host;
  struct in6_addr ip; /* an address gets an IP SAN (a collector at https://127.0.0.1:PORT) */
  bool is_ip = inet_pton(AF_INET, name, &ip) == 1 || inet_pton(AF_INET6, name, &ip) == 1;
  snprintf(san, sizeof san, "%s:%s", is_ip ? "IP" : "DNS", name);
  X509 *issuer = pki->ca;
  EVP_PKEY *ikey = pki->ca_key;
  long nb = -3600, na = 86400L * 7;
  if (kind == TSRV_CERT_EXPIRED) nb = -86400L * 3, na = -86400L;
  if (kind == TSRV_CERT_UNKNOWN_CA) issuer = pki->other_ca, ikey = pki->other_key;
  if (kind == TSRV_CERT_SELF_SIGNED) issuer = NULL, ikey = NULL;
  X509 *leaf = make_cert(key, name, issuer, ikey, nb, na, false, san);
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
    abort();
  if (issuer) SSL_CTX_add1_chain_cert(ctx, issuer);
  if (alpn) SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)(uintptr_t)alpn);
  X509_free(leaf);
  EVP_PKEY_free(key);
  return ctx;
}
