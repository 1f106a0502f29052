/* tamper.c - TLS interception and download tampering rules (see tamper.h). */
#include "analysis/tamper.h"

#include <string.h>
#include <strings.h>

static bool nonempty(const char *s) { return s && *s; }

static bool same_ca(const cs_tamper_chain *a, const cs_tamper_chain *b) {
  if (!nonempty(a->issuer) || !nonempty(b->issuer) || strcmp(a->issuer, b->issuer)) return false;
  /* a key identity on both sides must agree (a MITM can copy a name, not a key); the two may
   * be of different kinds (spki: when the intermediate was sent, aki: otherwise) */
  if (nonempty(a->issuer_key) && nonempty(b->issuer_key) &&
      !strncmp(a->issuer_key, b->issuer_key, 4) && strcmp(a->issuer_key, b->issuer_key))
    return false;
  return true;
}

void cs_tamper_tls_judge(const cs_tamper_chain *probe, const cs_tamper_chain *ctl, size_t nctl,
                         cs_tamper_anchor anchor, cs_tamper_tls *out) {
  *out = (cs_tamper_tls){.intercepted = -1, .reason = "no control chain to compare with"};
  bool any = false;
  for (size_t i = 0; i < nctl; i++) any |= ctl[i].n > 0;
  if (!any || !probe->n) {
    if (!probe->n) out->reason = "the probe recorded no certificate";
    return;
  }
  for (size_t i = 0; i < nctl; i++)
    if (ctl[i].n && !strcmp(ctl[i].sha256[0], probe->sha256[0])) {
      *out = (cs_tamper_tls){0, "the control saw the same certificate"};
      return;
    }
  for (size_t i = 0; i < nctl; i++)
    if (ctl[i].n && same_ca(probe, &ctl[i])) {
      *out = (cs_tamper_tls){0, "another certificate from the issuer the control saw "
                                "(several certificates per name: CDNs, rotation)"};
      return;
    }
  switch (anchor) {
  case CS_ANCHOR_SYSTEM:
    *out = (cs_tamper_tls){0, "another issuer than the control's, but a public CA of the "
                              "system store: not claimed as interception"};
    return;
  case CS_ANCHOR_CA_FILE:
    *out = (cs_tamper_tls){1, "another issuer than the control's, trusted only through the "
                              "CA the probe was given (--ca-file), not a public CA"};
    return;
  case CS_ANCHOR_NONE:
    out->reason = "another issuer than the control's, trusted by no store (the handshake "
                  "failed: DNS hijack or an interceptor the user did not trust)";
    return;
  case CS_ANCHOR_UNKNOWN:
  default: out->reason = "another issuer than the control's; the chain could not be verified";
  }
}

static const char *const download_ext[] = {
    "exe",  "msi", "dll",  "apk", "xapk", "aab", "ipa",  "dmg",   "pkg",  "deb", "rpm", "appimage",
    "zip",  "rar", "7z",   "gz",  "tgz",  "bz2", "xz",   "tar",   "iso",  "img", "bin", "jar",
    "js",   "css", "pdf",  "doc", "docx", "xls", "xlsx", "ppt",   "pptx", "odt", "png", "jpg",
    "jpeg", "gif", "webp", "svg", "mp3",  "mp4", "woff", "woff2", "wasm", "sig", "asc"};

bool cs_tamper_is_download_path(const char *path) {
  if (!path) return false;
  size_t n = strcspn(path, "?#");
  const char *slash = NULL;
  for (size_t i = 0; i < n; i++)
    if (path[i] == '/') slash = path + i;
  const char *base = slash ? slash + 1 : path;
  size_t bl = n - (size_t)(base - path);
  const char *dot = NULL;
  for (size_t i = 0; i < bl; i++)
    if (base[i] == '.') dot = base + i;
  if (!dot) return false;
  size_t el = bl - (size_t)(dot + 1 - base);
  for (size_t i = 0; i < sizeof download_ext / sizeof *download_ext; i++)
    if (strlen(download_ext[i]) == el && !strncasecmp(dot + 1, download_ext[i], el)) return true;
  return false;
}

/* The media type without parameters, compared case-insensitively. */
static size_t mt_len(const char *ct) {
  size_t n = strcspn(ct, "; \t");
  return n;
}

static bool same_type(const char *a, const char *b) {
  if (!a || !b) return !a && !b;
  size_t la = mt_len(a), lb = mt_len(b);
  return la == lb && !strncasecmp(a, b, la);
}

static bool is_page_type(const char *ct) {
  if (!ct) return false;
  static const char *const pages[] = {"text/html",  "application/xhtml+xml",
                                      "text/plain", "application/json",
                                      "text/xml",   "application/xml"};
  size_t l = mt_len(ct);
  for (size_t i = 0; i < sizeof pages / sizeof *pages; i++)
    if (strlen(pages[i]) == l && !strncasecmp(ct, pages[i], l)) return true;
  return false;
}

void cs_tamper_http_judge(const cs_tamper_body *probe, const cs_tamper_body *ctl, const char *path,
                          cs_tamper_http *out) {
  *out = (cs_tamper_http){-1, NULL};
  if (!ctl->sha256) {
    out->reason = "the control returned no body digest";
  } else if (!probe->sha256 || probe->failed || probe->status < 0) {
    out->reason = "the probe got no complete response";
  } else if (probe->status != 200 || ctl->status != 200) {
    out->reason = "not a 200 response on both sides";
  } else if (probe->truncated || ctl->truncated) {
    out->reason = "a body hit the size cap: digests not comparable";
  } else if (!strcmp(probe->sha256, ctl->sha256)) {
    *out = (cs_tamper_http){0, "the same bytes as the control"};
  } else if (!same_type(probe->content_type, ctl->content_type)) {
    out->reason = "another content type than the control's (a blockpage or redirect page is "
                  "the blocking verdict's business)";
  } else if (!cs_tamper_is_download_path(path) &&
             (!ctl->content_type || is_page_type(ctl->content_type))) {
    out->reason = "a page that differs from the control's (pages legitimately change between "
                  "fetches): not claimed";
  } else {
    *out = (cs_tamper_http){1, "a download of the same type with other bytes than the control's"};
  }
}
