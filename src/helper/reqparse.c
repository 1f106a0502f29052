/* reqparse.c - bounded HTTP/1.1 request parsing for the control server (see reqparse.h).
 * Grammar: RFC 9112 §3 (request-line), §5 (field lines; no whitespace before the colon, no
 * obs-fold), §6.3 (message body length: Transfer-Encoding is not supported -> 501, with
 * Content-Length -> 400 as a smuggling attempt; Content-Length must be one decimal value). */
#include "helper/reqparse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar */
static bool is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static cs_helper_pstatus fail(cs_helper_req *r, int status, const char *msg) {
  r->error_status = status;
  r->error = msg;
  return CS_HREQ_ERROR;
}

static bool name_is(const uint8_t *n, size_t nl, const char *s) {
  return nl == strlen(s) && strncasecmp((const char *)n, s, nl) == 0;
}

/* Case-insensitive search for token tok in a comma-separated list (RFC 9110 §5.6.1). */
static bool list_has(const uint8_t *v, size_t vl, const char *tok) {
  size_t tl = strlen(tok), i = 0;
  while (i < vl) {
    while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < vl && v[i] != ',') i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (e - s == tl && strncasecmp((const char *)v + s, tok, tl) == 0) return true;
  }
  return false;
}

/* Finds CRLFCRLF in p[from..n); returns the offset after it, or 0. */
static size_t find_head_end(const uint8_t *p, size_t from, size_t n) {
  for (size_t i = from; i + 3 < n; i++)
    if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') return i + 4;
  return 0;
}

bool cs_helper_req_method_is(const cs_helper_req *r, const char *m) {
  size_t ml = strlen(m);
  return r->method && r->method_len == ml && memcmp(r->method, m, ml) == 0;
}

cs_helper_pstatus cs_helper_req_parse(const uint8_t *p, size_t n, const cs_helper_limits *lim,
                                      cs_helper_req *r, size_t *scan) {
  memset(r, 0, sizeof *r);
  size_t max_head = lim && lim->max_head ? lim->max_head : CS_HELPER_MAX_HEAD;
  size_t max_headers = lim && lim->max_headers ? lim->max_headers : CS_HELPER_MAX_HEADERS;
  size_t max_body = lim && lim->max_body ? lim->max_body : CS_HELPER_MAX_BODY;

  /* RFC 9112 §2.2: ignore empty lines before the request-line (bounded by max_head). */
  size_t start = 0;
  while (start + 1 < n && p[start] == '\r' && p[start + 1] == '\n') {
    start += 2;
    if (start > max_head) return fail(r, 400, "too many empty lines");
  }
  if (start < n && p[start] != '\r' && !is_tchar(p[start]))
    return fail(r, 400, "malformed request line");

  size_t scan_end = n - start > max_head ? start + max_head : n;
  size_t from = start;
  if (scan && *scan > start + 3 && *scan <= scan_end) from = *scan - 3; /* CRLFCRLF may straddle */
  size_t end = find_head_end(p, from, scan_end);
  if (!end) {
    if (scan) *scan = scan_end;
    if (n - start >= max_head) return fail(r, 431, "request head too large");
    return CS_HREQ_MORE;
  }

  /* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3) */
  size_t i = start;
  r->method = p + i;
  while (i < end && is_tchar(p[i])) i++;
  r->method_len = (size_t)(p + i - r->method);
  if (r->method_len == 0 || r->method_len > CS_HELPER_MAX_METHOD || p[i] != ' ')
    return fail(r, 400, "malformed method");
  i++;
  r->target = p + i;
  while (i < end && p[i] > 0x20 && p[i] < 0x7f) i++;
  r->target_len = (size_t)(p + i - r->target);
  if (r->target_len == 0 || p[i] != ' ') return fail(r, 400, "malformed request target");
  i++;
  if (end - i < 10 || memcmp(p + i, "HTTP/", 5) != 0) return fail(r, 400, "malformed version");
  if (p[i + 5] < '0' || p[i + 5] > '9' || p[i + 6] != '.' || p[i + 7] < '0' || p[i + 7] > '9' ||
      p[i + 8] != '\r' || p[i + 9] != '\n')
    return fail(r, 400, "malformed version");
  if (p[i + 5] != '1') return fail(r, 505, "HTTP version not supported");
  r->minor = p[i + 7] - '0';
  i += 10;

  bool conn_close = false, conn_ka = false, have_cl = false, have_te = false;
  size_t nhost = 0, nfields = 0;
  /* field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 §5) */
  while (i < end) {
    if (p[i] == '\r') { /* must be the empty line that ends the head */
      if (i + 2 != end) return fail(r, 400, "bare CR in header section");
      break;
    }
    if (++nfields > max_headers) return fail(r, 431, "too many header fields");
    if (p[i] == ' ' || p[i] == '\t') return fail(r, 400, "obsolete line folding");
    const uint8_t *name = p + i;
    while (i < end && is_tchar(p[i])) i++;
    size_t nl = (size_t)(p + i - name);
    if (nl == 0 || p[i] != ':') return fail(r, 400, "malformed header field name");
    i++;
    while (p[i] == ' ' || p[i] == '\t') i++;
    const uint8_t *val = p + i;
    /* field-vchar / obs-text / SP / HTAB; CR only as part of CRLF */
    while (i < end && p[i] != '\r') {
      if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
        return fail(r, 400, "invalid character in header field");
      i++;
    }
    if (p[i + 1] != '\n') return fail(r, 400, "bare CR in header field");
    size_t vl = (size_t)(p + i - val);
    while (vl > 0 && (val[vl - 1] == ' ' || val[vl - 1] == '\t')) vl--;
    i += 2;

    if (name_is(name, nl, "Content-Length")) {
      /* RFC 9112 §6.3 (5): one decimal value; identical repeats are tolerated */
      if (vl == 0 || vl > 15) return fail(r, 400, "invalid Content-Length");
      uint64_t v = 0;
      for (size_t k = 0; k < vl; k++) {
        if (val[k] < '0' || val[k] > '9') return fail(r, 400, "invalid Content-Length");
        v = v * 10 + (uint64_t)(val[k] - '0');
      }
      if (have_cl && v != r->content_length) return fail(r, 400, "conflicting Content-Length");
      have_cl = true;
      r->has_content_length = true;
      r->content_length = v;
    } else if (name_is(name, nl, "Transfer-Encoding")) {
      have_te = true;
      r->has_transfer_encoding = true;
    } else if (name_is(name, nl, "Connection")) {
      if (list_has(val, vl, "close")) conn_close = true;
      if (list_has(val, vl, "keep-alive")) conn_ka = true;
    } else if (name_is(name, nl, "Expect")) {
      if (vl == 12 && strncasecmp((const char *)val, "100-continue", 12) == 0)
        r->expect_continue = true;
    } else if (name_is(name, nl, "User-Agent")) {
      if (!r->user_agent) r->user_agent = val, r->user_agent_len = vl;
    } else if (name_is(name, nl, "Host")) {
      nhost++;
    }
  }
  r->head_len = end;
  /* RFC 9112 §3.2: a 1.1 request needs exactly one Host field */
  if (r->minor >= 1 && nhost != 1) return fail(r, 400, "missing or repeated Host");
  if (have_te && have_cl) return fail(r, 400, "both Transfer-Encoding and Content-Length");
  if (have_te) return fail(r, 501, "Transfer-Encoding is not supported");
  r->keep_alive = r->minor >= 1 ? !conn_close : (conn_ka && !conn_close);
  if (r->content_length > max_body) return fail(r, 413, "request body too large");
  size_t cl = (size_t)r->content_length;
  if (n - end < cl) return CS_HREQ_MORE;
  r->body = p + end;
  r->body_len = cl;
  r->total_len = end + cl;
  return CS_HREQ_OK;
}
