/* certinfo.c - certificate chain and body digests for the forensics (see certinfo.h).
 * X.509 fields: RFC 5280 §4.1.2.4 (issuer), §4.2.1.1 (authorityKeyIdentifier), §4.1.2.7
 * (subjectPublicKeyInfo). */
#include "engine/certinfo.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void hexify(const unsigned char *p, size_t n, char *out, size_t cap) {
  static const char hx[] = "0123456789abcdef";
  size_t k = 0;
  for (size_t i = 0; i < n && k + 2 < cap; i++) {
    out[k++] = hx[p[i] >> 4];
    out[k++] = hx[p[i] & 15];
  }
  if (cap) out[k] = 0;
}

void cs_sha256_hex(const void *p, size_t n, char hex[CS_SHA256_HEX]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
    ERR_clear_error();
    hex[0] = 0;
    return;
  }
  hexify(md, mdlen, hex, CS_SHA256_HEX);
}

static X509 *parse(const cs_cert_der *c) {
  if (!c || !c->der || !c->len || c->len > (1u << 20)) return NULL;
  const unsigned char *p = c->der;
  X509 *x = d2i_X509(NULL, &p, (long)c->len);
  if (!x) ERR_clear_error();
  return x;
}

void cs_chain_issuer_get(const cs_cert_der *chain, size_t n, cs_chain_issuer *out) {
  memset(out, 0, sizeof *out);
  X509 *leaf = n ? parse(&chain[0]) : NULL;
  if (!leaf) return;
  out->parsed = true;
  BIO *b = BIO_new(BIO_s_mem());
  if (b && X509_NAME_print_ex(b, X509_get_issuer_name(leaf), 0, XN_FLAG_RFC2253) >= 0) {
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    if (len > 0 && data) {
      size_t l = (size_t)len;
      if (l >= sizeof out->issuer) l = sizeof out->issuer - 4, memcpy(out->issuer + l, "...", 4);
      else out->issuer[l] = 0;
      memcpy(out->issuer, data, l);
      for (size_t i = 0; i < l; i++) /* control bytes never reach the JSON unescaped */
        if ((unsigned char)out->issuer[i] < 0x20) out->issuer[i] = '?';
    }
  }
  BIO_free(b);
  /* the key that signed the leaf: the next certificate's public key when it was sent */
  X509 *up = n > 1 ? parse(&chain[1]) : NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (up && X509_check_issued(up, leaf) == X509_V_OK &&
      X509_pubkey_digest(up, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
    memcpy(out->issuer_key, "spki:", 5);
    hexify(md, mdlen, out->issuer_key + 5, sizeof out->issuer_key - 5);
  } else {
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
    if (aki && ASN1_STRING_length(aki) > 0 && ASN1_STRING_length(aki) <= 32) {
      memcpy(out->issuer_key, "aki:", 4);
      hexify(ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki), out->issuer_key + 4,
             sizeof out->issuer_key - 4);
    }
  }
  ERR_clear_error();
  X509_free(up);
  X509_free(leaf);
}
