/* tamper.h - the rules that turn a probe-vs-control comparison into the forensics verdicts
 * x_tls_interception and x_http_tampering (docs/forensics.md, "TLS interception" and
 * "Download tampering"). Pure: no I/O, no OpenSSL; web_connectivity gathers the digests
 * (engine/certinfo.h) and the control's (thproto's extension fields) and asks these. */
#ifndef CS_ANALYSIS_TAMPER_H
#define CS_ANALYSIS_TAMPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One certificate chain as compared: SHA-256 of each certificate (leaf first), the leaf's
 * issuer name and the signing key's identity ("spki:HEX" / "aki:HEX"; "" or NULL unknown). */
typedef struct {
  const char *const *sha256;
  size_t n;
  const char *issuer, *issuer_key;
} cs_tamper_chain;

/* Where the probe's chain is anchored (the caller verifies it against the system store and
 * then the probe's --ca-file). */
typedef enum {
  CS_ANCHOR_UNKNOWN = 0, /* not verified (no_verify, unparsable) */
  CS_ANCHOR_SYSTEM,      /* the system trust store: a public CA */
  CS_ANCHOR_CA_FILE,     /* only the CA the user gave (--ca-file) */
  CS_ANCHOR_NONE         /* neither (the handshake failed on it) */
} cs_tamper_anchor;

typedef struct {
  int intercepted;    /* 1, 0, -1 (null: cannot tell) */
  const char *reason; /* static text: why */
} cs_tamper_tls;

/* The rule, in order (docs/forensics.md):
 *   no control chain                                        -> null
 *   the probe's leaf is one of the control's leaves         -> false (same certificate)
 *   same issuer name and no conflicting signing-key identity -> false (CDN / rotation)
 *   anchored in the system store (a public CA)               -> false (not claimed)
 *   anchored only in the user's CA (--ca-file)               -> true
 *   anchored nowhere (the probe rejected it) or unknown      -> null */
void cs_tamper_tls_judge(const cs_tamper_chain *probe, const cs_tamper_chain *ctl, size_t nctl,
                         cs_tamper_anchor anchor, cs_tamper_tls *out);

typedef struct {
  int status;               /* final HTTP status, -1 none */
  bool failed;              /* the fetch failed (body incomplete) */
  bool truncated;           /* the body hit the cap */
  const char *sha256;       /* NULL unknown */
  int64_t length;           /* -1 unknown */
  const char *content_type; /* NULL absent */
} cs_tamper_body;

typedef struct {
  int tampered; /* 1, 0, -1 */
  const char *reason;
} cs_tamper_http;

/* Plain-HTTP download integrity: equal digests -> false; different digests of a complete 200
 * body of the same content type that is a download (a file extension of data/…, below, or a
 * non-page Content-Type) -> true; a page (text/html ...) that differs, another content type
 * (a blockpage: the blocking verdict's business), a non-200 status, a failure or a
 * truncated body -> null. path: the URL's path (for its extension). */
void cs_tamper_http_judge(const cs_tamper_body *probe, const cs_tamper_body *ctl, const char *path,
                          cs_tamper_http *out);

/* True when path ends in a file extension of a download (exe, msi, apk, dmg, zip, ...). */
bool cs_tamper_is_download_path(const char *path);

#endif
