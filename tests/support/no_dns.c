/* no_dns.c - linked into every unit-test binary: the system resolver (getaddrinfo) of the
 * engine never sends a DNS query to the host's nameserver, which is outside the addresses the
 * project may talk to. A constructor installs a guard with cs_dns_set_system_resolver that
 * behaves like an RFC 6761 resolver for the special-use names the tests use and refuses the
 * rest loudly:
 *   - IP literals: getaddrinfo with AI_NUMERICHOST (no lookup at all);
 *   - "localhost" and *.localhost (RFC 6761 §6.3): getaddrinfo of "localhost", which glibc
 *     answers from /etc/hosts;
 *   - *.invalid (RFC 6761 §6.4): EAI_NONAME, the NXDOMAIN a resolver must give;
 *   - anything else: EAI_FAIL and a line on stderr naming the test's mistake.
 * The testbed's tests (tests/net/) exercise the real getaddrinfo against real resolvers. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "engine/dns.h"

/* Does name end in the label suffix (".invalid"), ignoring one trailing dot and case? */
static int ends_with_label(const char *name, const char *suffix) {
  size_t n = strlen(name), s = strlen(suffix);
  if (n && name[n - 1] == '.') n--;
  if (n == s - 1 && !strncasecmp(name, suffix + 1, n)) return 1; /* the label itself */
  return n > s && !strncasecmp(name + n - s, suffix, s);
}

static int guarded_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                               struct addrinfo **res) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (node && (inet_pton(AF_INET, node, buf) == 1 || inet_pton(AF_INET6, node, buf) == 1)) {
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    if (hints) h = *hints;
    h.ai_flags |= AI_NUMERICHOST;
    return getaddrinfo(node, service, &h, res);
  }
  if (node && ends_with_label(node, ".localhost"))
    return getaddrinfo("localhost", service, hints, res);
  if (node && ends_with_label(node, ".invalid")) return EAI_NONAME;
  fprintf(stderr,
          "no_dns: a test resolved \"%s\" with the system resolver; refused (unit tests "
          "send no DNS query off the machine: use localhost, *.invalid or an IP literal)\n",
          node ? node : "(null)");
  return EAI_FAIL;
}

__attribute__((constructor)) static void no_dns_install(void) {
  cs_dns_set_system_resolver(guarded_getaddrinfo);
}
