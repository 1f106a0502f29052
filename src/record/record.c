/* record.c - trace storage and the OONI JSON writers (see record.h). */
#include "record/record.h"

#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

cs_trace *cs_trace_new(double zero, size_t arena_limit) {
  cs_arena *a = cs_arena_new(arena_limit);
  if (!a) return NULL;
  cs_trace *t = cs_arena_alloc(a, sizeof *t);
  if (!t) {
    cs_arena_free(a);
    return NULL;
  }
  t->a = a;
  t->zero = zero;
  return t;
}

void cs_trace_free(cs_trace *t) {
  if (t) cs_arena_free(t->a); /* t itself lives in the arena */
}

double cs_trace_rel(const cs_trace *t, double now) {
  double d = now - t->zero;
  return d < 0 ? 0 : d;
}

int64_t cs_trace_txid(cs_trace *t) { return ++t->next_txid; }

void cs_trace_tags(cs_trace *t, cs_rec_common *c, const char *const *tags, size_t n) {
  c->ntags = 0;
  c->tags = n ? cs_arena_alloc(t->a, n * sizeof *c->tags) : NULL;
  if (!c->tags) return;
  for (size_t i = 0; i < n; i++) {
    const char *s = cs_arena_strdup(t->a, tags[i]);
    if (s) c->tags[c->ntags++] = s;
  }
}

#define APPEND(list, T)                                                                            \
  do {                                                                                             \
    /* NOLINTNEXTLINE(bugprone-macro-parentheses): T is a type name */                             \
    T *r_ = cs_arena_alloc(t->a, sizeof *r_);                                                      \
    if (!r_) return NULL;                                                                          \
    if (t->list.tail) t->list.tail->next = r_;                                                     \
    else t->list.head = r_;                                                                        \
    t->list.tail = r_;                                                                             \
    t->list.n++;                                                                                   \
    return r_;                                                                                     \
  } while (0)

cs_query_rec *cs_trace_add_query(cs_trace *t) { APPEND(queries, cs_query_rec); }
cs_query_rec *cs_trace_add_dns_duplicate(cs_trace *t) { APPEND(dns_duplicates, cs_query_rec); }
cs_tcp_rec *cs_trace_add_tcp(cs_trace *t) { APPEND(tcp, cs_tcp_rec); }
cs_tls_rec *cs_trace_add_tls(cs_trace *t) { APPEND(tls, cs_tls_rec); }
cs_http_rec *cs_trace_add_http(cs_trace *t) { APPEND(requests, cs_http_rec); }
cs_netevent_rec *cs_trace_add_event(cs_trace *t) { APPEND(events, cs_netevent_rec); }

/* ---- writers ---------------------------------------------------------------------------- */

static void common(cs_jw *w, const cs_rec_common *c) {
  cs_jw_ksecs(w, "t0", c->t0);
  cs_jw_ksecs(w, "t", c->t);
  cs_jw_key(w, "tags");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < c->ntags; i++) cs_jw_str(w, c->tags[i]);
  cs_jw_arr_close(w);
  if (c->transaction_id) cs_jw_kint(w, "transaction_id", c->transaction_id);
}

void cs_write_query(cs_jw *w, const cs_query_rec *q) {
  cs_jw_obj_open(w);
  cs_jw_key(w, "answers");
  if (!q->answers || q->nanswers == 0) {
    cs_jw_null(w);
  } else {
    cs_jw_arr_open(w);
    for (size_t i = 0; i < q->nanswers; i++) {
      const cs_dns_answer *a = &q->answers[i];
      cs_jw_obj_open(w);
      cs_jw_kint(w, "asn", 0);
      cs_jw_kstr(w, "as_org_name", "");
      cs_jw_kstr(w, "answer_type", a->answer_type);
      if (a->ipv4) cs_jw_kstr(w, "ipv4", a->ipv4);
      if (a->ipv6) cs_jw_kstr(w, "ipv6", a->ipv6);
      if (a->hostname) cs_jw_kstr(w, "hostname", a->hostname);
      cs_jw_key(w, "ttl");
      if (a->has_ttl) cs_jw_int(w, a->ttl);
      else cs_jw_null(w);
      cs_jw_obj_close(w);
    }
    cs_jw_arr_close(w);
  }
  cs_jw_kstr(w, "engine", q->engine);
  cs_jw_kstr(w, "failure", q->failure);
  if (q->getaddrinfo_error) cs_jw_kint(w, "getaddrinfo_error", q->getaddrinfo_error);
  cs_jw_kstr(w, "hostname", q->hostname);
  cs_jw_kstr(w, "query_type", q->query_type);
  if (q->raw_response && q->raw_response_len) {
    cs_jw_key(w, "raw_response");
    cs_jw_raw(w, "\"", 1);
    cs_buf_base64(w->b, q->raw_response, q->raw_response_len);
    cs_buf_putc(w->b, '"');
  }
  if (q->has_rcode) cs_jw_kint(w, "rcode", q->rcode);
  cs_jw_knull(w, "resolver_hostname");
  cs_jw_knull(w, "resolver_port");
  cs_jw_kstr(w, "resolver_address", q->resolver_address ? q->resolver_address : "");
  common(w, &q->c);
  cs_jw_obj_close(w);
}

void cs_write_tcp(cs_jw *w, const cs_tcp_rec *r) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "ip", r->ip);
  cs_jw_kint(w, "port", r->port);
  cs_jw_key(w, "status");
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "failure", r->failure);
  cs_jw_kbool(w, "success", r->success);
  cs_jw_obj_close(w);
  common(w, &r->c);
  cs_jw_obj_close(w);
}

void cs_write_tls(cs_jw *w, const cs_tls_rec *r) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "network", r->network ? r->network : "tcp");
  cs_jw_kstr(w, "address", r->address);
  cs_jw_kstr(w, "cipher_suite", r->cipher_suite ? r->cipher_suite : "");
  cs_jw_kstr(w, "failure", r->failure);
  cs_jw_kstr(w, "negotiated_protocol", r->negotiated_protocol ? r->negotiated_protocol : "");
  cs_jw_kbool(w, "no_tls_verify", r->no_tls_verify);
  cs_jw_key(w, "peer_certificates");
  if (!r->npeer_certificates) {
    cs_jw_null(w);
  } else {
    cs_jw_arr_open(w);
    for (size_t i = 0; i < r->npeer_certificates; i++) {
      cs_jw_obj_open(w);
      cs_jw_key(w, "data");
      cs_jw_raw(w, "\"", 1);
      cs_buf_base64(w->b, r->peer_certificates[i].der, r->peer_certificates[i].len);
      cs_buf_putc(w->b, '"');
      cs_jw_kstr(w, "format", "base64");
      cs_jw_obj_close(w);
    }
    cs_jw_arr_close(w);
  }
  cs_jw_kstr(w, "server_name", r->server_name ? r->server_name : "");
  cs_jw_kstr(w, "tls_version", r->tls_version ? r->tls_version : "");
  common(w, &r->c);
  cs_jw_obj_close(w);
}

static bool name_seen_before(const cs_header *h, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (strcasecmp(h[j].name, h[i].name) == 0) return true;
  return false;
}

static void write_msg(cs_jw *w, const cs_http_msg *m) {
  cs_jw_key(w, "body");
  cs_jw_maybe_binary(w, m->body ? m->body : (const uint8_t *)"", m->body_len);
  cs_jw_kbool(w, "body_is_truncated", m->body_is_truncated);
  cs_jw_key(w, "headers_list");
  cs_jw_arr_open(w);
  for (size_t i = 0; i < m->nheaders; i++) {
    cs_jw_arr_open(w);
    cs_jw_str(w, m->headers[i].name);
    cs_jw_maybe_binary(w, m->headers[i].value, m->headers[i].value_len);
    cs_jw_arr_close(w);
  }
  cs_jw_arr_close(w);
  cs_jw_key(w, "headers");
  cs_jw_obj_open(w);
  for (size_t i = 0; i < m->nheaders; i++) {
    if (name_seen_before(m->headers, i)) continue;
    cs_jw_key(w, m->headers[i].name);
    cs_jw_maybe_binary(w, m->headers[i].value, m->headers[i].value_len);
  }
  cs_jw_obj_close(w);
}

void cs_write_http(cs_jw *w, const cs_http_rec *r) {
  cs_jw_obj_open(w);
  cs_jw_kstr(w, "network", r->network ? r->network : "tcp");
  cs_jw_kstr(w, "address", r->address);
  cs_jw_kstr(w, "alpn", r->alpn ? r->alpn : "");
  cs_jw_kstr(w, "failure", r->failure);
  cs_jw_key(w, "request");
  cs_jw_obj_open(w);
  write_msg(w, &r->req);
  cs_jw_kstr(w, "method", r->method ? r->method : "GET");
  cs_jw_key(w, "tor");
  cs_jw_obj_open(w);
  cs_jw_knull(w, "exit_ip");
  cs_jw_knull(w, "exit_name");
  cs_jw_kbool(w, "is_tor", false);
  cs_jw_obj_close(w);
  cs_jw_kstr(w, "x_transport", "tcp");
  cs_jw_kstr(w, "url", r->url);
  cs_jw_obj_close(w);
  cs_jw_key(w, "response");
  cs_jw_obj_open(w);
  write_msg(w, &r->resp);
  cs_jw_kint(w, "code", r->code);
  cs_jw_obj_close(w);
  common(w, &r->c);
  cs_jw_obj_close(w);
}

void cs_write_event(cs_jw *w, const cs_netevent_rec *e) {
  cs_jw_obj_open(w);
  if (e->address) cs_jw_kstr(w, "address", e->address);
  cs_jw_kstr(w, "failure", e->failure);
  if (e->operation && (!strcmp(e->operation, "read") || !strcmp(e->operation, "write") ||
                       !strcmp(e->operation, "read_from") || !strcmp(e->operation, "write_to") ||
                       !strcmp(e->operation, "bytes_received_cumulative")))
    cs_jw_kint(w, "num_bytes", e->num_bytes);
  cs_jw_kstr(w, "operation", e->operation);
  if (e->proto) cs_jw_kstr(w, "proto", e->proto);
  common(w, &e->c);
  cs_jw_obj_close(w);
}

void cs_write_trace_keys(cs_jw *w, const cs_trace *t) {
  cs_jw_key(w, "queries");
  cs_jw_arr_open(w);
  for (const cs_query_rec *q = t->queries.head; q; q = q->next) cs_write_query(w, q);
  cs_jw_arr_close(w);
  cs_jw_key(w, "x_dns_duplicate_responses");
  cs_jw_arr_open(w);
  for (const cs_query_rec *q = t->dns_duplicates.head; q; q = q->next) cs_write_query(w, q);
  cs_jw_arr_close(w);
  cs_jw_key(w, "tcp_connect");
  cs_jw_arr_open(w);
  for (const cs_tcp_rec *r = t->tcp.head; r; r = r->next) cs_write_tcp(w, r);
  cs_jw_arr_close(w);
  cs_jw_key(w, "tls_handshakes");
  cs_jw_arr_open(w);
  for (const cs_tls_rec *r = t->tls.head; r; r = r->next) cs_write_tls(w, r);
  cs_jw_arr_close(w);
  /* OONI: requests newest-first */
  cs_jw_key(w, "requests");
  cs_jw_arr_open(w);
  if (t->requests.n) {
    const cs_http_rec **v = malloc(t->requests.n * sizeof *v);
    if (v) {
      size_t i = 0;
      for (const cs_http_rec *r = t->requests.head; r; r = r->next) v[i++] = r;
      while (i-- > 0) cs_write_http(w, v[i]);
      free(v);
    }
  }
  cs_jw_arr_close(w);
  cs_jw_key(w, "network_events");
  cs_jw_arr_open(w);
  for (const cs_netevent_rec *e = t->events.head; e; e = e->next) cs_write_event(w, e);
  cs_jw_arr_close(w);
}

void cs_envelope_begin(cs_jw *w, const cs_envelope *e) {
  char ts[20];
  cs_jw_obj_open(w);
  cs_jw_key(w, "annotations");
  if (e->annotations_json) cs_jw_raw(w, e->annotations_json, strlen(e->annotations_json));
  else cs_jw_raw(w, "{}", 2);
  cs_jw_kstr(w, "data_format_version", "0.2.0");
  cs_jw_key(w, "extensions");
  {
    static const char ext[] =
        "{\"dnst\":0,\"httpt\":0,\"netevents\":0,\"tcpconnect\":0,\"tlshandshake\":0}";
    cs_jw_raw(w, ext, sizeof ext - 1);
  }
  cs_jw_kstr(w, "input", e->input);
  cs_utc_format(e->measurement_start, ts);
  cs_jw_kstr(w, "measurement_start_time", ts);
  if (e->options_json) {
    cs_jw_key(w, "options");
    cs_jw_raw(w, e->options_json, strlen(e->options_json));
  }
  cs_jw_kstr(w, "probe_asn", e->probe_asn ? e->probe_asn : "AS0");
  cs_jw_kstr(w, "probe_cc", e->probe_cc ? e->probe_cc : "ZZ");
  /* The probe's own address is never recorded (OONI scrubs it the same way). */
  cs_jw_kstr(w, "probe_ip", "127.0.0.1");
  cs_jw_kstr(w, "probe_network_name", e->probe_network_name ? e->probe_network_name : "");
  cs_jw_kstr(w, "report_id", e->report_id ? e->report_id : "");
  cs_jw_kstr(w, "resolver_asn", e->resolver_asn ? e->resolver_asn : "AS0");
  cs_jw_kstr(w, "resolver_ip", e->resolver_ip ? e->resolver_ip : "");
  cs_jw_kstr(w, "resolver_network_name", e->resolver_network_name ? e->resolver_network_name : "");
  cs_jw_kstr(w, "software_name", e->software_name ? e->software_name : "censorscope");
  cs_jw_kstr(w, "software_version", e->software_version ? e->software_version : "0.0.0");
  cs_jw_key(w, "test_helpers");
  if (e->test_helpers_json) cs_jw_raw(w, e->test_helpers_json, strlen(e->test_helpers_json));
  else cs_jw_raw(w, "{}", 2);
  cs_jw_kstr(w, "test_name", e->test_name);
  cs_jw_ksecs(w, "test_runtime", e->test_runtime);
  cs_utc_format(e->test_start, ts);
  cs_jw_kstr(w, "test_start_time", ts);
  cs_jw_kstr(w, "test_version", e->test_version);
  cs_jw_key(w, "test_keys");
  cs_jw_obj_open(w);
}

void cs_envelope_end(cs_jw *w) {
  cs_jw_obj_close(w);
  cs_jw_obj_close(w);
}

bool cs_record_has_forensics(const char *json, size_t len) {
  static const char *const keys[] = {"\"x_middlebox\":[", "\"x_locate\":{",
                                     "\"x_resolver_identity\":{", "\"x_tls_interception\":{",
                                     "\"x_http_tampering\":{"};
  for (size_t i = 0; json && i < sizeof keys / sizeof *keys; i++)
    if (memmem(json, len, keys[i], strlen(keys[i]))) return true;
  return false;
}
