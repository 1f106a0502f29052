/* failure.c - errno / getaddrinfo -> OONI failure strings (see failure.h). */
#include "util/failure.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

static const char *const names[CS_FAIL__COUNT] = {
#define CS_FAILURE_NAME(code, str) [CS_FAIL_##code] = (str),
    CS_FAILURE_MAP(CS_FAILURE_NAME)
#undef CS_FAILURE_NAME
};

const char *cs_failure_str(cs_failure f) {
  if ((unsigned)f >= CS_FAIL__COUNT) return names[CS_FAIL_UNKNOWN];
  return names[f];
}

cs_failure cs_failure_from_errno(int err) {
  switch (err) {
  case 0: return CS_FAIL_NONE;
  case ECONNREFUSED: return CS_FAIL_CONNECTION_REFUSED;
  case ECONNRESET: return CS_FAIL_CONNECTION_RESET;
  case EHOSTUNREACH: return CS_FAIL_HOST_UNREACHABLE;
  case ETIMEDOUT: return CS_FAIL_TIMED_OUT;
  case EAFNOSUPPORT: return CS_FAIL_ADDRESS_FAMILY_NOT_SUPPORTED;
  case EADDRINUSE: return CS_FAIL_ADDRESS_IN_USE;
  case EADDRNOTAVAIL: return CS_FAIL_ADDRESS_NOT_AVAILABLE;
  case EISCONN: return CS_FAIL_ALREADY_CONNECTED;
  case EFAULT: return CS_FAIL_BAD_ADDRESS;
  case EBADF: return CS_FAIL_BAD_FILE_DESCRIPTOR;
  case ECONNABORTED: return CS_FAIL_CONNECTION_ABORTED;
  case EALREADY: return CS_FAIL_CONNECTION_ALREADY_IN_PROGRESS;
  case EDESTADDRREQ: return CS_FAIL_DESTINATION_ADDRESS_REQUIRED;
  case EINTR: return CS_FAIL_INTERRUPTED;
  case EINVAL: return CS_FAIL_INVALID_ARGUMENT;
  case EMSGSIZE: return CS_FAIL_MESSAGE_SIZE;
  case ENETDOWN: return CS_FAIL_NETWORK_DOWN;
  case ENETRESET: return CS_FAIL_NETWORK_RESET;
  case ENETUNREACH: return CS_FAIL_NETWORK_UNREACHABLE;
  case ENOBUFS: return CS_FAIL_NO_BUFFER_SPACE;
  case ENOPROTOOPT: return CS_FAIL_NO_PROTOCOL_OPTION;
  case ENOTSOCK: return CS_FAIL_NOT_A_SOCKET;
  case ENOTCONN: return CS_FAIL_NOT_CONNECTED;
  case EWOULDBLOCK: return CS_FAIL_OPERATION_WOULD_BLOCK;
  case EACCES: return CS_FAIL_PERMISSION_DENIED;
  case EPROTONOSUPPORT: return CS_FAIL_PROTOCOL_NOT_SUPPORTED;
  case EPROTOTYPE: return CS_FAIL_WRONG_PROTOCOL_TYPE;
  default: return CS_FAIL_UNKNOWN;
  }
}

cs_failure cs_failure_from_gai(int rc, int err) {
  switch (rc) {
  case 0: return CS_FAIL_NONE;
  case EAI_NONAME: return CS_FAIL_DNS_NXDOMAIN;
#ifdef EAI_NODATA
  case EAI_NODATA: return CS_FAIL_DNS_NO_ANSWER;
#endif
#ifdef EAI_ADDRFAMILY
  case EAI_ADDRFAMILY: return CS_FAIL_DNS_NO_ANSWER;
#endif
  case EAI_SYSTEM: {
    cs_failure f = cs_failure_from_errno(err);
    return f == CS_FAIL_NONE ? CS_FAIL_DNS_SERVER_MISBEHAVING : f;
  }
  default: return CS_FAIL_DNS_SERVER_MISBEHAVING;
  }
}

/* Length of an IPv4 or IPv6 literal starting at s, or 0. Deliberately conservative:
 * IPv4 = 4 dotted decimal groups; IPv6 = hex digits and colons with at least two colons. */
static size_t addr_len_at(const char *s) {
  size_t i = 0, groups = 0, digits = 0;
  while (s[i] && (isdigit((unsigned char)s[i]) || s[i] == '.')) {
    if (s[i] == '.') {
      if (digits == 0 || digits > 3) break;
      groups++, digits = 0;
    } else {
      digits++;
    }
    i++;
  }
  if (groups == 3 && digits >= 1 && digits <= 3) return i;
  i = 0;
  size_t colons = 0;
  while (s[i] && (isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.')) {
    if (s[i] == ':') colons++;
    i++;
  }
  if (colons >= 2 && i >= 3) return i;
  return 0;
}

void cs_scrub_addresses(char *s, size_t cap) {
  (void)cap;
  for (size_t i = 0; s[i];) {
    int boundary = (i == 0) || !isalnum((unsigned char)s[i - 1]);
    size_t n = boundary ? addr_len_at(s + i) : 0;
    if (n > 0) {
      memset(s + i, 'x', n);
      i += n;
    } else {
      i++;
    }
  }
}

char *cs_failure_unknown(char *out, size_t outlen, const char *detail) {
  snprintf(out, outlen, "unknown_failure: %s", detail ? detail : "");
  cs_scrub_addresses(out, outlen);
  return out;
}
