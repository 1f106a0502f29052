/* helper_srv.h - runs the control server (src/helper/server.h) in a thread on its own
 * cs_loop, listening on 127.0.0.1 (ephemeral port), for the helper tests; plus blocking
 * loopback client helpers that read HTTP/1.1 responses one at a time (pipelining). */
#ifndef CS_TEST_HELPER_SRV_H
#define CS_TEST_HELPER_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "helper/server.h"

typedef struct helper_srv helper_srv;

/* o is copied; o->measure.tls may be NULL (a system-CA context is made). NULL on error. */
helper_srv *helper_srv_start(const cs_helper_opts *o);
uint16_t helper_srv_port(const helper_srv *s);
cs_helper_stats helper_srv_stats(helper_srv *s); /* taken on the server's loop thread */
void helper_srv_stop(helper_srv *s);

/* ---- blocking client side -------------------------------------------------------------- */
typedef struct {
  int fd;
  uint8_t buf[1 << 16]; /* bytes read but not yet used (the next pipelined response) */
  size_t len;
} hcli;

/* Connects to 127.0.0.1:port with a receive timeout of timeout_s. Returns 0 or -1. */
int hcli_connect(hcli *c, uint16_t port, double timeout_s);
int hcli_send(hcli *c, const void *p, size_t n);
int hcli_sendstr(hcli *c, const char *s);
/* Reads one response. Returns its status (body NUL-terminated, malloc'd, in *body; headers
 * block likewise in *head when head != NULL), 0 at EOF before any byte, -1 on a timeout or a
 * malformed response. */
int hcli_read(hcli *c, char **body, char **head);
/* True when the peer closed (EOF) within timeout_s, with no further byte. */
bool hcli_wait_eof(hcli *c, double timeout_s);
void hcli_close(hcli *c);

#endif
