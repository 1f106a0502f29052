/* test_tamper.c - the tampering forensics of issue 14 (docs/forensics.md): the pure rules
 * (analysis/tamper.c: TLS interception, download tampering, download paths), the TH protocol
 * extensions both ways (x_tls_chain / x_body_sha256 requests; x_chain_sha256, x_issuer,
 * x_issuer_key, x_body_sha256, x_body_truncated in responses; absent unless asked, so an OONI
 * client sees OONI's response; hostile values ignored), the chain digests and anchoring
 * (engine/certinfo.c, cs_tls_chain_verify) on a real test PKI, and the control server
 * answering the extensions for a real loopback TLS server and HTTP server; the whoami zone
 * (helper/whoami.c) and resolver_identity through its registry entry against it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tamper.h"
#include "engine/certinfo.h"
#include "engine/tls.h"
#include "engine/dnswire.h"
#include "engine/loop.h"
#include "helper/server.h"
#include "helper/whoami.h"
#include "nettests/nettest.h"
#include "nettests/registry.h"
#include "nettests/probe.h"
#include "helper_srv.h"
#include "tcp_servers.h"
#include "thproto/thproto.h"
#include "util/buf.h"
#include "util/ipnet.h"
#include "util/json.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* ---- the TLS rule -------------------------------------------------------------------------- */

static void test_tls_rule(void **st) {
  (void)st;
  const char *pa[] = {SHA_A}, *pb[] = {SHA_B}, *pc[] = {SHA_C};
  cs_tamper_chain probe = {pa, 1, "CN=Real CA", "spki:11"};
  cs_tamper_chain same = {pa, 1, "CN=Real CA", "spki:11"};
  cs_tamper_chain cdn = {pb, 1, "CN=Real CA", "spki:11"};    /* other leaf, same CA */
  cs_tamper_chain other = {pc, 1, "CN=Other CA", "spki:22"}; /* another CA */
  cs_tamper_tls v;
  cs_tamper_tls_judge(&probe, NULL, 0, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, -1); /* nothing to compare with */
  cs_tamper_tls_judge(&probe, &same, 1, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, 0);
  assert_non_null(strstr(v.reason, "same certificate"));
  cs_tamper_tls_judge(&probe, &cdn, 1, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, 0); /* CDN: several certificates from one CA */
  assert_non_null(strstr(v.reason, "issuer the control saw"));
  /* another CA: the anchor decides */
  cs_tamper_tls_judge(&probe, &other, 1, CS_ANCHOR_SYSTEM, &v);
  assert_int_equal(v.intercepted, 0);
  assert_non_null(strstr(v.reason, "public CA"));
  cs_tamper_tls_judge(&probe, &other, 1, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, 1);
  cs_tamper_tls_judge(&probe, &other, 1, CS_ANCHOR_NONE, &v);
  assert_int_equal(v.intercepted, -1);
  cs_tamper_tls_judge(&probe, &other, 1, CS_ANCHOR_UNKNOWN, &v);
  assert_int_equal(v.intercepted, -1);
  /* a copied issuer name with another key is not the same CA */
  cs_tamper_chain copied = {pc, 1, "CN=Real CA", "spki:99"};
  cs_tamper_tls_judge(&probe, &copied, 1, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, 1);
  /* keys of different kinds cannot be compared: the name decides */
  cs_tamper_chain akikind = {pc, 1, "CN=Real CA", "aki:99"};
  cs_tamper_tls_judge(&probe, &akikind, 1, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, 0);
  /* any of several control chains may match */
  cs_tamper_chain two[] = {other, cdn};
  cs_tamper_tls_judge(&probe, two, 2, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, 0);
  /* the probe recorded no certificate */
  cs_tamper_chain none = {NULL, 0, NULL, NULL};
  cs_tamper_tls_judge(&none, &same, 1, CS_ANCHOR_CA_FILE, &v);
  assert_int_equal(v.intercepted, -1);
}

/* ---- the download rule --------------------------------------------------------------------- */

static void test_http_rule(void **st) {
  (void)st;
  cs_tamper_body ctl = {200, false, false, SHA_A, 100, "application/octet-stream"};
  cs_tamper_body p = ctl;
  cs_tamper_http v;
  cs_tamper_http_judge(&p, &ctl, "/setup.exe", &v);
  assert_int_equal(v.tampered, 0);
  p.sha256 = SHA_B, p.length = 140;
  cs_tamper_http_judge(&p, &ctl, "/setup.exe", &v);
  assert_int_equal(v.tampered, 1);
  cs_tamper_http_judge(&p, &ctl, "/download", &v); /* a non-page type is a download too */
  assert_int_equal(v.tampered, 1);
  /* pages differ legitimately: not claimed */
  cs_tamper_body pc = ctl, pp = p;
  pc.content_type = pp.content_type = "text/html; charset=utf-8";
  cs_tamper_http_judge(&pp, &pc, "/index.php", &v);
  assert_int_equal(v.tampered, -1);
  cs_tamper_http_judge(&pp, &pc, "/app.apk?x=1", &v); /* unless the path is a download */
  assert_int_equal(v.tampered, 1);
  /* another content type: a blockpage, the blocking verdict's business */
  pp.content_type = "text/html";
  cs_tamper_http_judge(&pp, &ctl, "/setup.exe", &v);
  assert_int_equal(v.tampered, -1);
  /* incomplete, truncated, non-200, no control digest: null */
  cs_tamper_body q = p;
  q.truncated = true;
  cs_tamper_http_judge(&q, &ctl, "/setup.exe", &v);
  assert_int_equal(v.tampered, -1);
  q = p, q.failed = true;
  cs_tamper_http_judge(&q, &ctl, "/setup.exe", &v);
  assert_int_equal(v.tampered, -1);
  q = p, q.status = 403;
  cs_tamper_http_judge(&q, &ctl, "/setup.exe", &v);
  assert_int_equal(v.tampered, -1);
  cs_tamper_body c2 = ctl;
  c2.sha256 = NULL;
  cs_tamper_http_judge(&p, &c2, "/setup.exe", &v);
  assert_int_equal(v.tampered, -1);
  c2 = ctl, c2.truncated = true;
  cs_tamper_http_judge(&p, &c2, "/setup.exe", &v);
  assert_int_equal(v.tampered, -1);

  assert_true(cs_tamper_is_download_path("/a/b/Setup.EXE"));
  assert_true(cs_tamper_is_download_path("/x.tar.gz#frag"));
  assert_false(cs_tamper_is_download_path("/exe"));
  assert_false(cs_tamper_is_download_path("/a.exe/"));
  assert_false(cs_tamper_is_download_path("/page?file=a.exe"));
  assert_false(cs_tamper_is_download_path(NULL));
  assert_false(cs_tamper_is_download_path(""));
}

/* ---- thproto extensions ------------------------------------------------------------------- */

static void test_thproto_ext(void **st) {
  (void)st;
  cs_buf b;
  cs_buf_init(&b, 0);
  cs_th_request r = {.url = "http://x.org/", .want_chain = true, .want_body_sha256 = true};
  assert_int_equal(cs_th_request_encode(&b, &r), 0);
  assert_non_null(strstr(cs_buf_cstr(&b), ",\"x_tls_chain\":true,\"x_body_sha256\":true}"));
  cs_arena *a = cs_arena_new(0);
  cs_th_request d;
  char err[128];
  assert_int_equal(cs_th_request_decode(a, (const char *)b.data, b.len, &d, err, sizeof err), 0);
  assert_true(d.want_chain && d.want_body_sha256);
  cs_buf_free(&b);
  /* not asked: not written (OONI's request bytes) */
  cs_buf_init(&b, 0);
  r.want_chain = r.want_body_sha256 = false;
  assert_int_equal(cs_th_request_encode(&b, &r), 0);
  assert_null(strstr(cs_buf_cstr(&b), "x_tls_chain"));
  assert_null(strstr(cs_buf_cstr(&b), "x_body_sha256"));
  cs_buf_free(&b);
  const char *bad = "{\"http_request\":\"http://x/\",\"x_tls_chain\":\"yes\"}";
  assert_int_equal(cs_th_request_decode(a, bad, strlen(bad), &d, err, sizeof err), -1);
  assert_non_null(strstr(err, "x_"));

  /* response: written after OONI's fields, read back */
  const char *chain[] = {SHA_A, SHA_B};
  cs_th_ep tls = {.endpoint = "1.2.3.4:443",
                  .status = true,
                  .server_name = "x.org",
                  .chain_sha256 = chain,
                  .nchain = 2,
                  .issuer = "CN=Real CA",
                  .issuer_key = "spki:11"};
  cs_th_response w = {.tls = &tls,
                      .ntls = 1,
                      .http_status = 200,
                      .http_body_length = 5,
                      .http_body_sha256 = SHA_C,
                      .http_body_truncated = 0};
  cs_buf_init(&b, 0);
  assert_int_equal(cs_th_response_write(&b, &w), 0);
  const char *js = cs_buf_cstr(&b);
  assert_non_null(strstr(js, "\"failure\":null,\"x_chain_sha256\":[\"" SHA_A "\",\"" SHA_B
                             "\"],\"x_issuer\":\"CN=Real CA\",\"x_issuer_key\":\"spki:11\"}"));
  assert_non_null(strstr(js, "\"status_code\":200,\"x_body_sha256\":\"" SHA_C
                             "\",\"x_body_truncated\":false}"));
  const cs_jval *v = cs_json_parse(a, js, strlen(js), NULL, err, sizeof err);
  cs_th_response rd;
  cs_th_response_read(a, v, &rd);
  assert_int_equal(rd.ntls, 1);
  assert_int_equal(rd.tls[0].nchain, 2);
  assert_string_equal(rd.tls[0].chain_sha256[1], SHA_B);
  assert_string_equal(rd.tls[0].issuer, "CN=Real CA");
  assert_string_equal(rd.tls[0].issuer_key, "spki:11");
  assert_string_equal(rd.http_body_sha256, SHA_C);
  assert_int_equal(rd.http_body_truncated, 0);
  cs_buf_free(&b);
  /* not set: not written */
  tls.nchain = 0, tls.issuer = NULL, w.http_body_sha256 = NULL;
  cs_buf_init(&b, 0);
  assert_int_equal(cs_th_response_write(&b, &w), 0);
  assert_null(strstr(cs_buf_cstr(&b), "x_"));
  cs_buf_free(&b);
  /* hostile values: wrong types, bad hex, too long: ignored */
  const char *h =
      "{\"tls_handshake\":{\"1.2.3.4:443\":{\"status\":true,\"x_chain_sha256\":"
      "[\"zz\",7,\"" SHA_A "\",\"" SHA_A "0\",\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
      "AAAAAAAAAAAAAAAAAAAAAAAA\"],\"x_issuer\":5,\"x_issuer_key\":[]}},"
      "\"http_request\":{\"status_code\":200,\"x_body_sha256\":\"" SHA_A "\\u0000\","
      "\"x_body_truncated\":\"no\"}}";
  v = cs_json_parse(a, h, strlen(h), NULL, err, sizeof err);
  assert_non_null(v);
  cs_th_response_read(a, v, &rd);
  assert_int_equal(rd.tls[0].nchain, 1);
  assert_string_equal(rd.tls[0].chain_sha256[0], SHA_A);
  assert_null(rd.tls[0].issuer);
  assert_null(rd.tls[0].issuer_key);
  assert_null(rd.http_body_sha256);
  assert_int_equal(rd.http_body_truncated, -1);
  cs_arena_free(a);
}

/* ---- certificates: digests, issuer, anchoring ------------------------------------------- */

static cs_cert_der der_of(X509 *x, unsigned char **keep) {
  int n = i2d_X509(x, NULL);
  assert_true(n > 0);
  unsigned char *p = malloc((size_t)n), *q = p;
  assert_int_equal(i2d_X509(x, &q), n);
  *keep = p;
  return (cs_cert_der){p, (size_t)n};
}

static void test_certinfo(void **st) {
  (void)st;
  tsrv_pki pki;
  assert_int_equal(tsrv_pki_init(&pki), 0);
  SSL_CTX *good = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, NULL);
  SSL_CTX *evil = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_UNKNOWN_CA, NULL);
  unsigned char *k1, *k2, *k3;
  cs_cert_der chain[2] = {der_of(SSL_CTX_get0_certificate(good), &k1), der_of(pki.ca, &k2)};
  cs_cert_der echain[1] = {der_of(SSL_CTX_get0_certificate(evil), &k3)};
  cs_chain_issuer is;
  cs_chain_issuer_get(chain, 2, &is);
  assert_true(is.parsed);
  assert_string_equal(is.issuer, "CN=censorscope test CA,O=censorscope test");
  assert_int_equal(strncmp(is.issuer_key, "spki:", 5), 0);
  assert_int_equal(strlen(is.issuer_key), 5 + 64);
  cs_chain_issuer is1;
  cs_chain_issuer_get(chain, 1, &is1); /* without the intermediate: the same name */
  assert_string_equal(is1.issuer, is.issuer);
  cs_chain_issuer ie;
  cs_chain_issuer_get(echain, 1, &ie);
  assert_string_equal(ie.issuer, "CN=untrusted test CA,O=censorscope test");
  /* garbage */
  cs_cert_der junk = {(const uint8_t *)"\x30\x03\x01\x01\x00", 5};
  cs_chain_issuer_get(&junk, 1, &is1);
  assert_false(is1.parsed);
  assert_string_equal(is1.issuer, "");
  cs_chain_issuer_get(NULL, 0, &is1);
  assert_false(is1.parsed);
  /* digests: the SHA-256 of the DER */
  char h1[CS_SHA256_HEX], h2[CS_SHA256_HEX];
  cs_sha256_hex(chain[0].der, chain[0].len, h1);
  cs_sha256_hex(echain[0].der, echain[0].len, h2);
  assert_int_equal(strlen(h1), 64);
  assert_string_not_equal(h1, h2);
  cs_sha256_hex("abc", 3, h1); /* FIPS 180-2 B.1 */
  assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* anchoring: in the test CA (as --ca-file), not in an empty store */
  char err[128];
  cs_tls_ctx *with = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  cs_tls_ctx *none = cs_tls_ctx_new(NULL, true, err, sizeof err);
  assert_int_equal(cs_tls_chain_verify(with, chain, 2), 0);
  assert_int_equal(cs_tls_chain_verify(with, chain, 1), 0);
  assert_true(cs_tls_chain_verify(none, chain, 2) > 0);
  assert_true(cs_tls_chain_verify(with, echain, 1) > 0);
  assert_int_equal(cs_tls_chain_verify(with, &junk, 1), -1);
  assert_int_equal(cs_tls_chain_verify(with, chain, 0), -1);
  assert_int_equal(cs_tls_chain_verify(NULL, chain, 2), -1);
  cs_tls_ctx_free(with);
  cs_tls_ctx_free(none);
  free(k1), free(k2), free(k3);
  SSL_CTX_free(good);
  SSL_CTX_free(evil);
  tsrv_pki_free(&pki);
}

/* ---- the control server answers the extensions ------------------------------------------ */

static int post(uint16_t port, const char *json, char **body) {
  char req[1024];
  snprintf(req, sizeof req,
           "POST / HTTP/1.1\r\nHost: th\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           strlen(json), json);
  hcli c;
  assert_int_equal(hcli_connect(&c, port, 15), 0);
  assert_int_equal(hcli_sendstr(&c, req), 0);
  int stc = hcli_read(&c, body, NULL);
  hcli_close(&c);
  return stc;
}

static const char page[] = "<html><head><title>T</title></head><body>download</body></html>";

static void test_helper_ext(void **st) {
  (void)st;
  tsrv_pki pki;
  assert_int_equal(tsrv_pki_init(&pki), 0);
  SSL_CTX *sctx = tsrv_server_ctx(&pki, "localhost", TSRV_CERT_GOOD, "http/1.1");
  char resp[256];
  snprintf(resp, sizeof resp,
           "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %zu"
           "\r\n\r\n%s",
           strlen(page), page);
  tsrv_cfg cfg = {
      .mode = TSRV_RESPOND, .resp = (const uint8_t *)resp, .resp_len = strlen(resp), .tls = sctx};
  tsrv *tweb = tsrv_start(&cfg);
  cfg.tls = NULL;
  tsrv *web = tsrv_start(&cfg);
  char err[128], json[512], key[64], *body;
  cs_helper_opts o = {0};
  o.measure.tls = cs_tls_ctx_new(pki.ca_file, true, err, sizeof err);
  o.measure.tls_port = tsrv_port(tweb);
  o.measure.tcp_timeout = o.measure.tls_timeout = 2, o.measure.http_timeout = 3;
  helper_srv *s = helper_srv_start(&o);
  cs_arena *a = cs_arena_new(0);
  unsigned char *k1;
  cs_cert_der leaf = der_of(SSL_CTX_get0_certificate(sctx), &k1);
  char want[CS_SHA256_HEX];
  cs_sha256_hex(leaf.der, leaf.len, want);

  for (int asked = 0; asked < 2; asked++) {
    snprintf(json, sizeof json,
             "{\"http_request\":\"https://localhost:%u/\",\"tcp_connect\":[\"127.0.0.1:%u\"]%s}",
             tsrv_port(tweb), tsrv_port(tweb), asked ? ",\"x_tls_chain\":true" : "");
    assert_int_equal(post(helper_srv_port(s), json, &body), 200);
    const cs_jval *v = cs_json_parse(a, body, strlen(body), NULL, err, sizeof err);
    assert_non_null(v);
    snprintf(key, sizeof key, "127.0.0.1:%u", tsrv_port(tweb));
    const cs_jval *t = cs_json_get(cs_json_get(v, "tls_handshake"), key);
    assert_non_null(t);
    assert_true(cs_json_get(t, "status")->b);
    if (!asked) {
      assert_null(strstr(body, "x_")); /* an OONI client sees OONI's response */
    } else {
      const cs_jval *ch = cs_json_get(t, "x_chain_sha256");
      assert_non_null(ch);
      assert_int_equal(ch->len, 2); /* leaf + the test CA */
      assert_string_equal(ch->kids[0]->str, want);
      assert_string_equal(cs_json_get_str(t, "x_issuer", ""),
                          "CN=censorscope test CA,O=censorscope test");
      assert_int_equal(strncmp(cs_json_get_str(t, "x_issuer_key", ""), "spki:", 5), 0);
    }
    free(body);
  }
  /* x_body_sha256: the body's digest and whether the helper's cap cut it */
  snprintf(json, sizeof json,
           "{\"http_request\":\"http://127.0.0.1:%u/setup.exe\",\"x_body_sha256\":true}",
           tsrv_port(web));
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  const cs_jval *v = cs_json_parse(a, body, strlen(body), NULL, err, sizeof err);
  const cs_jval *h = cs_json_get(v, "http_request");
  cs_sha256_hex(page, strlen(page), want);
  assert_string_equal(cs_json_get_str(h, "x_body_sha256", ""), want);
  assert_int_equal(cs_json_get_bool(h, "x_body_truncated", -1), 0);
  free(body);
  /* a failed fetch has no digest */
  snprintf(json, sizeof json, "{\"http_request\":\"http://127.0.0.1:%u/\",\"x_body_sha256\":true}",
           tsrv_closed_port());
  assert_int_equal(post(helper_srv_port(s), json, &body), 200);
  v = cs_json_parse(a, body, strlen(body), NULL, err, sizeof err);
  assert_null(cs_json_get(cs_json_get(v, "http_request"), "x_body_sha256"));
  free(body);

  free(k1);
  cs_arena_free(a);
  helper_srv_stop(s);
  tsrv_stop(tweb);
  tsrv_stop(web);
  cs_tls_ctx_free(o.measure.tls);
  SSL_CTX_free(sctx);
  tsrv_pki_free(&pki);
}

/* ---- the whoami zone and resolver_identity ------------------------------------------------ */

static int whoami_q(const char *name, uint16_t qtype, const char *src, cs_dnswire_reply *r) {
  cs_dnswire_query q;
  cs_buf qb, out;
  cs_buf_init(&qb, 0);
  cs_buf_init(&out, 0);
  assert_int_equal(cs_dnswire_query_init(&q, name, qtype, 0x1234), CS_DNSWIRE_OK);
  assert_int_equal(cs_dnswire_query_encode(&q, true, &qb), CS_DNSWIRE_OK);
  cs_ip ip;
  assert_true(cs_ip_parse(src, &ip));
  int rc = cs_whoami_answer("whoami.test", qb.data, qb.len, &ip, &out);
  if (rc == 1) {
    assert_int_equal(cs_dnswire_parse(out.data, out.len, r), CS_DNSWIRE_OK);
    assert_int_equal(cs_dnswire_match(&q, r), CS_DNSWIRE_OK);
    assert_true(r->aa);
    assert_true(out.len <= qb.len + 64); /* no amplification */
  }
  cs_buf_free(&qb);
  cs_buf_free(&out);
  return rc;
}

static void test_whoami_answer(void **st) {
  (void)st;
  cs_dnswire_reply *r = malloc(sizeof *r);
  assert_non_null(r);
  char s[CS_IPSTR_MAX];
  assert_int_equal(whoami_q("abc.whoami.test", CS_DNS_TYPE_A, "198.18.2.1", r), 1);
  assert_int_equal(r->rcode, 0);
  assert_int_equal(r->nan, 1);
  assert_int_equal(r->an[0].ttl, 0);
  cs_ip_format(&r->an[0].ip, s);
  assert_string_equal(s, "198.18.2.1");
  assert_int_equal(whoami_q("X.Y.WhoAmI.Test", CS_DNS_TYPE_AAAA, "2001:db8::53", r), 1);
  cs_ip_format(&r->an[0].ip, s);
  assert_string_equal(s, "2001:db8::53");
  assert_int_equal(whoami_q("whoami.test", CS_DNS_TYPE_TXT, "198.18.2.1", r), 1);
  assert_int_equal(r->rcode, 0); /* TXT: not kept by the parser (A/AAAA/CNAME only) */
  assert_int_equal(r->ancount, 1);
  assert_int_equal(whoami_q("a.whoami.test", CS_DNS_TYPE_AAAA, "198.18.2.1", r), 1);
  assert_int_equal(r->rcode, 0); /* an IPv4 asker has no AAAA: NODATA */
  assert_int_equal(r->ancount, 0);
  assert_int_equal(whoami_q("a.notwhoami.test", CS_DNS_TYPE_A, "198.18.2.1", r), 1);
  assert_int_equal(r->rcode, CS_DNS_RCODE_REFUSED);
  assert_int_equal(r->ancount, 0);
  assert_int_equal(whoami_q("example.org", CS_DNS_TYPE_A, "198.18.2.1", r), 1);
  assert_int_equal(r->rcode, CS_DNS_RCODE_REFUSED);
  /* not a query: dropped, never answered */
  cs_buf out;
  cs_buf_init(&out, 0);
  cs_ip ip;
  cs_ip_parse("198.18.2.1", &ip);
  assert_int_equal(cs_whoami_answer("whoami.test", (const uint8_t *)"junk", 4, &ip, &out), 0);
  assert_int_equal(cs_whoami_answer("whoami.test", NULL, 0, &ip, &out), 0);
  assert_int_equal(out.len, 0);
  cs_buf_free(&out);
  free(r);
}

typedef struct {
  int calls;
  char *json;
  char key[64];
  cs_whoami *w;
} ri_meas;

static void ri_on_meas(void *arg, const cs_meas *m) {
  ri_meas *x = arg;
  x->calls++;
  x->json = strndup(m->json, m->len);
  snprintf(x->key, sizeof x->key, "%s", m->outcome ? m->outcome->key : "");
  cs_whoami_stats st = cs_whoami_get_stats(x->w);
  assert_true(st.queries >= 2); /* two identity lookups (A and AAAA each) */
  cs_whoami_free(x->w);         /* the loop ends with the measurement */
  x->w = NULL;
}

/* resolver_identity of the whoami server itself (it answers its own zone: the asker is the
 * probe, 127.0.0.1), through the registry entry; egress: NULL or one CIDR. */
static bool ri_no_packets; /* --no-packets for the next run */

static void run_ri_via(const char *scheme, const char *egress, bool bad_zone, ri_meas *x) {
  memset(x, 0, sizeof *x);
  const cs_nettest *nt = cs_nettest_find("resolver_identity");
  assert_non_null(nt);
  void *s = nt->create();
  char err[128], in[64];
  assert_int_equal(nt->opts[0].set(s, bad_zone ? "other.test" : "whoami.test", err, sizeof err), 0);
  if (egress) assert_int_equal(nt->opts[1].set(s, egress, err, sizeof err), 0);
  cs_probe_cfg probe = {
      .dns_timeout = 1, .tcp_timeout = 2, .software_version = "test", .no_packets = ri_no_packets};
  assert_int_equal(nt->prepare(s, &probe, err, sizeof err), 0);
  cs_loop *l = cs_loop_new();
  x->w = cs_whoami_new(l, "whoami.test", "127.0.0.1:0", 0, err, sizeof err);
  assert_non_null(x->w);
  snprintf(in, sizeof in, "%s://127.0.0.1:%d", scheme, cs_whoami_port(x->w));
  cs_nettest_input ni = {.input = in};
  assert_int_equal(nt->start(l, s, &probe, &ni, ri_on_meas, x), 0);
  cs_loop_run(l);
  cs_loop_free(l);
  nt->destroy(s);
  assert_int_equal(x->calls, 1);
}

static void run_ri(const char *egress, bool bad_zone, ri_meas *x) {
  run_ri_via("udp", egress, bad_zone, x);
}

static const cs_jval *ri_identity(cs_arena *a, const ri_meas *x, const cs_nettest **nt) {
  char err[96];
  const cs_jval *m = cs_json_parse(a, x->json, strlen(x->json), NULL, err, sizeof err);
  assert_non_null(m);
  *nt = cs_nettest_find("resolver_identity");
  cs_outcome o;
  assert_int_equal((*nt)->analyze(a, m, NULL, NULL, &o), 0);
  assert_string_equal(o.key, x->key); /* analyze agrees with the run */
  return cs_json_get(cs_json_get(m, "test_keys"), "x_resolver_identity");
}

static void test_resolver_identity(void **st) {
  (void)st;
  cs_arena *a = cs_arena_new(0);
  const cs_nettest *nt;
  ri_meas x;
  run_ri("127.0.0.0/8", false, &x);
  const cs_jval *id = ri_identity(a, &x, &nt);
  assert_string_equal(x.key, "accessible"); /* answered by its own operator */
  assert_int_equal(cs_json_get_bool(id, "dnat", -1), 0);
  assert_string_equal(cs_json_get_str(id, "answered_by", ""), "127.0.0.1");
  free(x.json);
  run_ri_via("tcp", "127.0.0.0/8", false, &x); /* the zone over TCP too (RFC 7766) */
  id = ri_identity(a, &x, &nt);
  assert_string_equal(x.key, "accessible");
  assert_string_equal(cs_json_get_str(id, "answered_by", ""), "127.0.0.1");
  /* the reply TTLs: the TCP/53 SYN-ACK versus 127.0.0.1:443's SYN-ACK or RST, both from this
   * host over loopback (TTL 64, 0 hops apart: no claim) when the probe may capture; without
   * CAP_NET_RAW null and why */
  const char *ts = cs_json_get_str(id, "reply_ttl_status", "");
  if (!strcmp(ts, "compared")) {
    assert_int_equal(cs_json_get_int(id, "dns_reply_ttl", -1), 64);
    assert_int_equal(cs_json_get_int(id, "other_reply_ttl", -1), 64);
    assert_int_equal(cs_json_get_int(id, "hop_difference", -1), 0);
    assert_non_null(strstr(cs_json_get_str(id, "other_reply", ""), "tcp/443"));
    assert_non_null(strstr(x.json, "within the tolerance of 1 (not counted)"));
    assert_non_null(strstr(x.json, "\"other_traffic\"")); /* the handshake is recorded */
  } else { /* no_privilege, or error: ... when the capture cannot open */
    assert_true(!strcmp(ts, "no_privilege") || !strncmp(ts, "error: ", 7));
    assert_int_equal(cs_json_get_int(id, "hop_difference", 7), 7); /* null */
    assert_non_null(strstr(x.json, "needs CAP_NET_RAW"));
  }
  free(x.json);
  ri_no_packets = true; /* --no-packets: no capture, no handshake, and the evidence says so */
  run_ri_via("tcp", "127.0.0.0/8", false, &x);
  ri_no_packets = false;
  id = ri_identity(a, &x, &nt);
  assert_string_equal(x.key, "accessible");
  assert_string_equal(cs_json_get_str(id, "reply_ttl_status", ""), "disabled");
  assert_int_equal(cs_json_get_int(id, "dns_reply_ttl", 7), 7);
  assert_null(strstr(x.json, "\"other_traffic\""));
  assert_non_null(strstr(x.json, "x_packets_status disabled"));
  free(x.json);
  run_ri("127.0.0.0/8", false, &x); /* UDP on a port other than 53: not captured, said */
  id = ri_identity(a, &x, &nt);
  ts = cs_json_get_str(id, "reply_ttl_status", "");
  assert_true(!strcmp(ts, "no_dns_reply") || !strcmp(ts, "no_privilege"));
  assert_int_equal(cs_json_get_int(id, "hop_difference", 7), 7);
  free(x.json);
  run_ri("198.18.5.1/32", false, &x); /* someone else asked: DNAT */
  id = ri_identity(a, &x, &nt);
  assert_string_equal(x.key, "dnat");
  assert_int_equal(cs_json_get_bool(id, "dnat", -1), 1);
  assert_string_equal(cs_json_get_str(id, "answered_by", ""), "127.0.0.1");
  free(x.json);
  run_ri(NULL, false, &x); /* nothing to compare with: null, and why */
  id = ri_identity(a, &x, &nt);
  assert_string_equal(x.key, "undetermined");
  assert_int_equal(cs_json_get_bool(id, "dnat", 7), 7); /* null */
  assert_non_null(strstr(x.json, "give --egress or --doh"));
  free(x.json);
  run_ri("127.0.0.0/8", true, &x); /* the zone refuses the names: no answer, no verdict */
  id = ri_identity(a, &x, &nt);
  assert_string_equal(x.key, "undetermined");
  assert_null(cs_json_get_str(id, "answered_by", NULL));
  assert_non_null(strstr(x.json, "dns_refused_error"));
  free(x.json);
  /* options */
  void *s = nt->create();
  char err[128];
  cs_probe_cfg probe = {0};
  assert_int_equal(nt->prepare(s, &probe, err, sizeof err), -1); /* --whoami-zone required */
  assert_int_equal(nt->opts[1].set(s, "not-a-cidr", err, sizeof err), -1);
  assert_int_equal(nt->opts[2].set(s, "udp://1.2.3.4", err, sizeof err), -1); /* --doh */
  nt->destroy(s);
  cs_arena_free(a);
}

int main(void) {
  cs_labnet_add("127.0.0.0/8"); /* the local test servers count as public addresses */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_rule),          cmocka_unit_test(test_http_rule),
      cmocka_unit_test(test_thproto_ext),       cmocka_unit_test(test_certinfo),
      cmocka_unit_test(test_helper_ext),        cmocka_unit_test(test_whoami_answer),
      cmocka_unit_test(test_resolver_identity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
