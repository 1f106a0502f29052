/* certinfo.h - what the forensics compare of a certificate chain and of a body: SHA-256 of
 * each certificate (DER), the leaf's issuer name (RFC 2253) and the identity of the key that
 * signed the leaf (SHA-256 of the next certificate's SubjectPublicKeyInfo when the server sent
 * it, else the leaf's authorityKeyIdentifier), and whether a chain is anchored in a trust
 * store (cs_tls_chain_verify, engine/tls.h). Used by the control server (helper/measure.c: the TH extension fields) and by
 * web_connectivity (x_tls_interception, x_http_tampering); the comparison rule itself is pure
 * (analysis/tamper.h). OpenSSL parses the DER (RFC 5280); nothing here trusts the input. */
#ifndef CS_CERTINFO_H
#define CS_CERTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tls.h"
#include "record/record.h"

#define CS_SHA256_HEX 65     /* 64 hex digits + NUL */
#define CS_CERT_NAME_MAX 256 /* issuer names are cut here (with "...") */

/* hex: lowercase SHA-256 of p[0..n). */
void cs_sha256_hex(const void *p, size_t n, char hex[CS_SHA256_HEX]);

typedef struct {
  char issuer[CS_CERT_NAME_MAX];      /* the leaf's issuer, RFC 2253; "" when unparsable */
  char issuer_key[CS_SHA256_HEX + 8]; /* "spki:<sha256>" of chain[1], "aki:<hex>" or "" */
  bool parsed;                        /* the leaf parsed as X.509 */
} cs_chain_issuer;

/* The issuer of a chain (leaf first). n == 0 or an unparsable leaf: parsed false. */
void cs_chain_issuer_get(const cs_cert_der *chain, size_t n, cs_chain_issuer *out);

#endif
