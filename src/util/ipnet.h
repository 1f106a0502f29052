/* ipnet.h - IP addresses, CIDR ranges, the bogon list (OONI netxlite/bogon.go semantics) and
 * lab networks (--lab-net): reserved ranges that a lab such as the testbed uses as ordinary
 * public address space. */
#ifndef CS_IPNET_H
#define CS_IPNET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/arena.h"

typedef struct {
  int family; /* AF_INET or AF_INET6 */
  uint8_t b[16];
} cs_ip;

typedef struct {
  cs_ip ip;
  unsigned prefix;
} cs_cidr;

#define CS_IPSTR_MAX 46 /* INET6_ADDRSTRLEN */

bool cs_ip_parse(const char *s, cs_ip *out);
void cs_ip_format(const cs_ip *ip, char out[CS_IPSTR_MAX]);
/* s in canonical text (cs_ip_format) when it is an IP literal, so that equal addresses
 * compare equal with strcmp: s itself when already canonical, not an IP or NULL, else a copy
 * in arena a (s again when a is out of memory). */
const char *cs_ip_canon(cs_arena *a, const char *s);
bool cs_cidr_parse(const char *s, cs_cidr *out);
bool cs_cidr_contains(const cs_cidr *c, const cs_ip *ip);
bool cs_ip_is_loopback(const cs_ip *ip);

/* Lab networks, process-wide (set once at start-up from --lab-net, before threads start). */
int cs_labnet_add(const char *cidr);
void cs_labnet_clear(void);
bool cs_ip_is_labnet(const cs_ip *ip);

/* Bogon per OONI (private, reserved, loopback, link-local, documentation, multicast ...),
 * except addresses inside a configured lab network, which count as public. */
bool cs_ip_is_bogon(const cs_ip *ip);
bool cs_ipstr_is_bogon(const char *s); /* false when s is not an IP literal */

/* sockaddr helpers */
socklen_t cs_ip_to_sockaddr(const cs_ip *ip, uint16_t port, struct sockaddr_storage *ss);
bool cs_ip_from_sockaddr(const struct sockaddr *sa, cs_ip *ip, uint16_t *port);
/* "1.2.3.4:80" or "[2001:db8::1]:443" */
void cs_endpoint_format(const cs_ip *ip, uint16_t port, char *out, size_t outlen);
/* Parses "1.2.3.4:80" / "[v6]:port". */
bool cs_endpoint_parse(const char *s, cs_ip *ip, uint16_t *port);

#endif
