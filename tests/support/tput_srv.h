/* tput_srv.h - runs the helper's throughput server (src/helper/throughput.h) in a thread on
 * its own cs_loop, listening on 127.0.0.1 (and optionally 127.0.0.2), ephemeral ports, for
 * unit tests (test_throughput.c; usable by the throttling nettest's tests); plus a blocking
 * loopback client that speaks plain HTTP or TLS with any SNI and reads to EOF. */
#ifndef CS_TEST_TPUT_SRV_H
#define CS_TEST_TPUT_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "helper/throughput.h"

typedef struct tput_srv tput_srv;

/* o is copied (its log callback is replaced by a collector). two: also listen on
 * 127.0.0.2. Aborts on failure. */
tput_srv *tput_srv_start(const cs_tput_opts *o, bool two);
uint16_t tput_srv_port(const tput_srv *s, int i); /* i: 0 (127.0.0.1) or 1 (127.0.0.2) */
cs_tput_stats tput_srv_stats(tput_srv *s);        /* taken on the server's loop thread */
char *tput_srv_log(tput_srv *s);                  /* log lines so far, '\n'-joined, malloc'd */
void tput_srv_stop(tput_srv *s);

/* ---- blocking client ------------------------------------------------------------------- */
typedef struct {
  int status;    /* HTTP status, 0 when no response, -1 on a connect/TLS failure */
  char *head;    /* response head, NUL-terminated (malloc'd; NULL without a response) */
  uint8_t *body; /* bytes after the head (malloc'd, NUL-terminated) */
  size_t body_len;
  bool tls_ok;         /* TLS: the handshake completed */
  size_t max_read_64k; /* TLS: the largest single read (one record) in the first 64 KiB */
  char alpn[16];
} tput_resp;

/* Connects to ip:port ("127.0.0.1"), with TLS when tls (SNI = sni, none when NULL; no
 * verification), sends req[0..reqlen) (then sends nothing more), reads until EOF or
 * timeout_s without data, and fills r. Returns 0, -1 when it could not connect. */
int tput_fetch(const char *ip, uint16_t port, bool tls, const char *sni, const void *req,
               size_t reqlen, double timeout_s, tput_resp *r);
/* Value of header name in r->head (malloc'd), NULL when absent. */
char *tput_resp_header(const tput_resp *r, const char *name);
void tput_resp_free(tput_resp *r);

#endif
