/* wc_forensics.h - web_connectivity's tampering forensics (issue 14, docs/forensics.md):
 * x_tls_interception (the probe's certificate chain against the control's, by the rule of
 * analysis/tamper.h) and x_http_tampering (the plain-HTTP body's SHA-256 and length against
 * the control's). The control server returns its side when the request asks for it
 * (thproto's x_tls_chain / x_body_sha256 extensions, ignored by OONI's helper: then both keys
 * are null). Computed at measurement time: whether a chain is anchored in the system store or
 * only in --ca-file depends on the probe's trust stores, which `analyze` does not have. */
#ifndef CS_WC_FORENSICS_H
#define CS_WC_FORENSICS_H

#include "engine/tls.h"
#include "record/record.h"
#include "util/json.h"
#include "util/url.h"

/* The control-request extensions to ask for a URL (CS_TH_EXT_* of wc_control.h). */
unsigned cs_wc_forensics_ext(const cs_url *u);

/* Writes "x_tls_interception" and "x_http_tampering" (each null or an object, contract of
 * issue 14) as members of the object being written. control: the TH's JSON reply (NULL when
 * none); final: the probe's last HTTP transaction (NULL when none); fetch_failure: the
 * fetch's failure (NULL on success); tls: the probe's trust store (system + --ca-file). */
void cs_wc_forensics_write(cs_jw *w, const cs_trace *t, const cs_url *u, const char *input,
                           const char *control, size_t control_len, const cs_http_rec *final,
                           const char *fetch_failure, cs_tls_ctx *tls);

#endif
