/* cmd_helper.c - `censorscope helper`: run the control server (OONI test-helper protocol,
 * src/helper/server.h), the throughput server (src/helper/throughput.h) and/or the whoami
 * DNS zone (src/helper/whoami.h) until SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/loop.h"
#include "engine/resolve.h"
#include "engine/tls.h"
#include "helper/server.h"
#include "helper/throughput.h"
#include "helper/whoami.h"
#include "util/ipnet.h"

static const char usage_text[] =
    "usage: censorscope helper --listen ADDR:PORT [--throughput ADDR:PORT] [OPTIONS]\n"
    "       censorscope helper --throughput ADDR:PORT [OPTIONS]\n"
    "       censorscope helper --dns-zone NAME --dns-listen ADDR:PORT [OPTIONS]\n"
    "\n"
    "Run the control server (\"test helper\") that gives Web Connectivity its uncensored\n"
    "view, speaking OONI's test-helper protocol: GET answers {\"message\":\"Hello "
    "OONItarian!\"};\n"
    "POST with a control request ({http_request, http_request_headers, tcp_connect,\n"
    "x_quic_enabled}) resolves the URL's host with the system resolver, connects to every\n"
    "public address (TCP, plus TLS on port 443), fetches the URL with redirects and answers\n"
    "the control response (dns, tcp_connect, tls_handshake, http_request, ip_info).\n"
    "With --throughput, it also serves the throttling nettest's throughput protocol on\n"
    "that port, TLS (any SNI, the helper's certificate) and plain HTTP on the same port:\n"
    "GET /throughput?bytes=N, POST /throughput, GET /throughput/info.\n"
    "With --dns-zone and --dns-listen, it is the authoritative server of a \"whoami\" zone:\n"
    "every name under it is answered (A, AAAA, TXT) with the address of the resolver that\n"
    "asked, for resolver_identity (DNAT of public resolvers).\n"
    "See docs/helper.md.\n"
    "\n"
    "options:\n"
    "      --listen ADDR:PORT   listen on 1.2.3.4:PORT or [::1]:PORT (repeatable; PORT 0:\n"
    "                           any free port, printed on standard error)\n"
    "      --ca-file FILE       trust the CA certificates in FILE (PEM) in addition to the\n"
    "                           system store, for the TLS handshakes and https fetches\n"
    "      --resolver SPEC      system (default: getaddrinfo on a 4-thread pool) or\n"
    "                           udp://IP:PORT (plain DNS, asynchronous: use it for hundreds of\n"
    "                           concurrent measurements, e.g. the nameserver of resolv.conf)\n"
    "      --lab-net CIDR       treat this reserved range as public address space (not a\n"
    "                           bogon; repeatable; e.g. 198.18.0.0/15 for the testbed)\n"
    "      --max-inflight N     measurements running at once; more are answered 503\n"
    "                           (default 512)\n"
    "      --max-conns N        open client connections (default 4096)\n"
    "      --max-body BYTES     largest request body accepted (default 1048576; OONI 16777216)\n"
    "      --fetch-body-cap BYTES  body kept per fetched page (default 16777216, as OONI;\n"
    "                           body_length is counted up to it)\n"
    "      --idle-timeout S     close keep-alive connections idle this long (default 60)\n"
    "      --request-timeout S  a request must arrive completely within S seconds of its\n"
    "                           first byte (default 20)\n"
    "      --throughput ADDR:PORT  serve the throughput protocol on this address (repeatable;\n"
    "                           every address is advertised in /throughput/info)\n"
    "      --throughput-max-bytes N  largest GET size or POST body (default 8388608)\n"
    "      --throughput-bytes-per-min N  body bytes per client address per minute\n"
    "                           (default 1073741824)\n"
    "      --throughput-requests-per-min N  requests per client address per minute\n"
    "                           (default 600)\n"
    "      --throughput-conns-per-addr N  open connections per client address (default 16)\n"
    "      --throughput-max-conns N  open throughput connections in total (default 512)\n"
    "      --dns-zone NAME      the whoami zone served on --dns-listen\n"
    "      --dns-listen ADDR:PORT  UDP address of the whoami zone's server\n"
    "      --dns-rate N         whoami answers per second per source /24 or /48 (default 50)\n"
    "      --tls-cert PEM       serve HTTPS with this certificate chain ...\n"
    "      --tls-key PEM        ... and this private key (also the throughput server's;\n"
    "                           without them it makes a self-signed certificate)\n"
    "  -q, --quiet              no start-up and shutdown messages\n"
    "  -h, --help               show this help\n"
    "\n"
    "exit status: 0 after SIGINT/SIGTERM, 1 when a listener or TLS setup fails, 2 on a\n"
    "usage error.\n";

enum {
  O_LISTEN = 256,
  O_CA,
  O_LAB,
  O_INFL,
  O_CONNS,
  O_BODY,
  O_IDLE,
  O_REQT,
  O_CERT,
  O_KEY,
  O_RES,
  O_FBC,
  O_TP,
  O_TP_MAXB,
  O_TP_BPM,
  O_TP_RPM,
  O_TP_CPA,
  O_TP_CONNS,
  O_DNS_ZONE,
  O_DNS_LISTEN,
  O_DNS_RATE
};

static const struct option longopts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"ca-file", required_argument, NULL, O_CA},
    {"lab-net", required_argument, NULL, O_LAB},
    {"max-inflight", required_argument, NULL, O_INFL},
    {"max-conns", required_argument, NULL, O_CONNS},
    {"max-body", required_argument, NULL, O_BODY},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"request-timeout", required_argument, NULL, O_REQT},
    {"tls-cert", required_argument, NULL, O_CERT},
    {"tls-key", required_argument, NULL, O_KEY},
    {"resolver", required_argument, NULL, O_RES},
    {"fetch-body-cap", required_argument, NULL, O_FBC},
    {"throughput", required_argument, NULL, O_TP},
    {"throughput-max-bytes", required_argument, NULL, O_TP_MAXB},
    {"throughput-bytes-per-min", required_argument, NULL, O_TP_BPM},
    {"throughput-requests-per-min", required_argument, NULL, O_TP_RPM},
    {"throughput-conns-per-addr", required_argument, NULL, O_TP_CPA},
    {"throughput-max-conns", required_argument, NULL, O_TP_CONNS},
    {"dns-zone", required_argument, NULL, O_DNS_ZONE},
    {"dns-listen", required_argument, NULL, O_DNS_LISTEN},
    {"dns-rate", required_argument, NULL, O_DNS_RATE},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool parse_size(const char *s, size_t lo, size_t hi, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = (size_t)v;
  return true;
}

static bool parse_secs(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v > 0 && v <= 86400)) return false;
  *out = v;
  return true;
}

/* "system", "udp://IP", "udp://IP:PORT" or "udp://[IPv6]:PORT": the engine's one spec parser
 * (engine/resolve.h) decides, restricted to the kinds the control server's lookup uses. */
static bool resolver_ok(const char *s) {
  cs_resolver_spec sp;
  char err[160];
  return *s && cs_resolver_spec_parse(s, &sp, err, sizeof err) == 0 &&
         (sp.kind == CS_RESOLVER_SYSTEM || sp.kind == CS_RESOLVER_UDP);
}

/* RFC 7301: prefer http/1.1 (we do not speak h2). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl, (void)arg;
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
      *out = in + i + 1;
      *outlen = (unsigned char)n;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx(const char *cert, const char *key) {
  SSL_CTX *x = SSL_CTX_new(TLS_server_method());
  if (!x) return NULL;
  SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(x, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(x) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    fprintf(stderr, "helper: TLS certificate/key: %s\n", buf);
    SSL_CTX_free(x);
    return NULL;
  }
  SSL_CTX_set_alpn_select_cb(x, alpn_select, NULL);
  return x;
}

typedef struct {
  cs_loop *l;
  cs_helper *h;
  cs_tput *tp;
  cs_whoami *dns;
  cs_io io;
  int fd;
  bool quiet;
} sig_state;

static void on_signal(cs_io *w, unsigned events) {
  (void)events;
  sig_state *s = w->data;
  struct signalfd_siginfo si;
  if (read(s->fd, &si, sizeof si) != (ssize_t)sizeof si) return;
  if (!s->quiet && s->tp) {
    cs_tput_stats t = cs_tput_get_stats(s->tp);
    fprintf(stderr,
            "helper: throughput stopping (connections %llu, requests %llu, downloads %llu, "
            "uploads %llu, sent %llu B, received %llu B",
            (unsigned long long)t.connections, (unsigned long long)t.requests,
            (unsigned long long)t.downloads, (unsigned long long)t.uploads,
            (unsigned long long)t.bytes_sent, (unsigned long long)t.bytes_received);
    for (int i = 0; i < CS_TPUT_NREASONS; i++)
      fprintf(stderr, ", refused %s %llu", cs_tput_reason_name((cs_tput_reason)i),
              (unsigned long long)t.refused[i]);
    fputs(")\n", stderr);
  }
  if (!s->quiet && s->dns) {
    cs_whoami_stats d = cs_whoami_get_stats(s->dns);
    fprintf(stderr,
            "helper: whoami zone stopping (queries %llu, answered %llu, refused %llu, dropped "
            "%llu, rate-limited %llu)\n",
            (unsigned long long)d.queries, (unsigned long long)d.answered,
            (unsigned long long)d.refused, (unsigned long long)d.dropped,
            (unsigned long long)d.limited);
  }
  if (!s->quiet && s->h) {
    cs_helper_stats st = cs_helper_get_stats(s->h);
    fprintf(stderr,
            "helper: stopping (connections %llu, requests %llu, measurements %llu, busy %llu, "
            "bad %llu, timeouts %llu)\n",
            (unsigned long long)st.connections, (unsigned long long)st.requests,
            (unsigned long long)st.measurements, (unsigned long long)st.rejected_busy,
            (unsigned long long)st.bad_requests, (unsigned long long)st.timeouts);
  }
  cs_io_stop(s->l, &s->io);
  cs_loop_stop(s->l);
}

static void tput_log(void *arg, const char *line) {
  (void)arg;
  fprintf(stderr, "helper: %s\n", line);
}

static int run(int argc, char **argv) {
  const char *listen_addrs[CS_HELPER_MAX_LISTEN];
  size_t nlisten = 0;
  const char *tp_addrs[CS_TPUT_MAX_LISTEN];
  size_t ntp = 0;
  cs_tput_opts to = {0};
  size_t v = 0;
  const char *ca = NULL, *cert = NULL, *key = NULL, *dns_zone = NULL, *dns_listen = NULL;
  size_t dns_rate = 0;
  bool quiet = false;
  cs_helper_opts o = {0};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
    switch (ch) {
    case O_LISTEN:
      if (nlisten == CS_HELPER_MAX_LISTEN) {
        fprintf(stderr, "helper: at most %d --listen addresses\n", CS_HELPER_MAX_LISTEN);
        return 2;
      }
      listen_addrs[nlisten++] = optarg;
      break;
    case O_CA: ca = optarg; break;
    case O_LAB:
      if (cs_labnet_add(optarg) < 0) {
        fprintf(stderr, "helper: --lab-net %s: not a CIDR range (or too many)\n", optarg);
        return 2;
      }
      break;
    case O_INFL:
      if (!parse_size(optarg, 1, 1000000, &o.max_inflight)) goto bad;
      break;
    case O_CONNS:
      if (!parse_size(optarg, 1, 1000000, &o.max_conns)) goto bad;
      break;
    case O_BODY:
      if (!parse_size(optarg, 64, 1u << 24, &o.limits.max_body)) goto bad;
      break;
    case O_IDLE:
      if (!parse_secs(optarg, &o.idle_timeout)) goto bad;
      break;
    case O_REQT:
      if (!parse_secs(optarg, &o.request_timeout)) goto bad;
      break;
    case O_CERT: cert = optarg; break;
    case O_KEY: key = optarg; break;
    case O_FBC:
      if (!parse_size(optarg, 1024, 1u << 26, &o.measure.body_cap)) goto bad;
      break;
    case O_RES:
      if (!resolver_ok(optarg)) goto bad;
      o.measure.resolver = optarg;
      break;
    case O_TP:
      if (ntp == CS_TPUT_MAX_LISTEN) {
        fprintf(stderr, "helper: at most %d --throughput addresses\n", CS_TPUT_MAX_LISTEN);
        return 2;
      }
      tp_addrs[ntp++] = optarg;
      break;
    case O_TP_MAXB:
      if (!parse_size(optarg, 1, 1ull << 32, &v)) goto bad;
      to.max_bytes = v;
      break;
    case O_TP_BPM:
      if (!parse_size(optarg, 1, SIZE_MAX, &v)) goto bad;
      to.bytes_per_min = v;
      break;
    case O_TP_RPM:
      if (!parse_size(optarg, 1, 1000000, &v)) goto bad;
      to.requests_per_min = (unsigned)v;
      break;
    case O_TP_CPA:
      if (!parse_size(optarg, 1, 100000, &to.conns_per_addr)) goto bad;
      break;
    case O_TP_CONNS:
      if (!parse_size(optarg, 1, 1000000, &to.max_conns)) goto bad;
      break;
    case O_DNS_ZONE: dns_zone = optarg; break;
    case O_DNS_LISTEN: dns_listen = optarg; break;
    case O_DNS_RATE:
      if (!parse_size(optarg, 1, 100000, &dns_rate)) goto bad;
      break;
    case 'q': quiet = true; break;
    case 'h': fputs(usage_text, stdout); return 0;
    default: fputs(usage_text, stderr); return 2;
    }
    continue;
  bad:
    fprintf(stderr, "helper: invalid value for --%s: %s\n", longopts[ch - O_LISTEN].name, optarg);
    return 2;
  }
  if (optind != argc || (nlisten == 0 && ntp == 0 && !dns_zone) || (!cert) != (!key) ||
      (!dns_zone) != (!dns_listen)) {
    fputs(usage_text, stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char err[256];
  cs_tls_ctx *tls = cs_tls_ctx_new(ca, false, err, sizeof err);
  if (!tls) {
    fprintf(stderr, "helper: trust store: %s\n", err);
    return 1;
  }
  SSL_CTX *sctx = NULL;
  if (cert && !(sctx = server_ctx(cert, key))) {
    cs_tls_ctx_free(tls);
    return 1;
  }
  char server_header[64];
  snprintf(server_header, sizeof server_header, "censorscope-helper/%s", CS_VERSION);
  o.measure.tls = tls;
  o.server_ssl_ctx = sctx;
  o.server_header = server_header;

  int rc = 1;
  cs_loop *l = cs_loop_new();
  if (l) cs_loop_set_workers(l, 32); /* concurrent getaddrinfo lookups for many requests */
  cs_helper *h = l && nlisten ? cs_helper_new(l, &o) : NULL;
  cs_tput *tp = NULL;
  cs_whoami *dns = NULL;
  sig_state ss = {.l = l, .h = h, .fd = -1, .quiet = quiet};
  if (!l || (nlisten && !h)) {
    fprintf(stderr, "helper: out of memory\n");
    goto out;
  }
  if (ntp) {
    to.ssl_ctx = sctx;
    to.server_header = server_header;
    to.log = quiet ? NULL : tput_log;
    if (!(tp = cs_tput_new(l, &to, err, sizeof err))) {
      fprintf(stderr, "helper: throughput: %s\n", err);
      goto out;
    }
    ss.tp = tp;
  }
  if (dns_zone) {
    if (!(dns = cs_whoami_new(l, dns_zone, dns_listen, (unsigned)dns_rate, err, sizeof err))) {
      fprintf(stderr, "helper: whoami zone: %s\n", err);
      goto out;
    }
    ss.dns = dns;
    if (!quiet)
      fprintf(stderr, "helper: whoami zone %s on %s (port %d, udp)\n", dns_zone, dns_listen,
              cs_whoami_port(dns));
  }
  for (size_t i = 0; i < ntp; i++) {
    int port = cs_tput_listen(tp, tp_addrs[i], err, sizeof err);
    if (port < 0) {
      fprintf(stderr, "helper: throughput %s\n", err);
      goto out;
    }
    if (!quiet)
      fprintf(stderr, "helper: throughput on %s (port %d, https and http)\n", tp_addrs[i], port);
  }
  for (size_t i = 0; i < nlisten; i++) {
    int port = cs_helper_listen(h, listen_addrs[i], err, sizeof err);
    if (port < 0) {
      fprintf(stderr, "helper: listen %s\n", err);
      goto out;
    }
    if (!quiet)
      fprintf(stderr, "helper: listening on %s (port %d, %s)\n", listen_addrs[i], port,
              sctx ? "https" : "http");
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  ss.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (ss.fd < 0 || cs_io_start(l, &ss.io, ss.fd, CS_EV_READ, on_signal, &ss) < 0) {
    fprintf(stderr, "helper: signalfd: %s\n", strerror(errno));
    goto out;
  }
  rc = cs_loop_run(l) == 0 ? 0 : 1;
out:
  if (ss.fd >= 0) {
    cs_io_stop(l, &ss.io);
    close(ss.fd);
  }
  cs_tput_free(tp);
  cs_whoami_free(dns);
  cs_helper_free(h);
  if (l) {
    cs_loop_run(l); /* let detached work (getaddrinfo on the pool) finish */
    cs_loop_free(l);
  }
  if (sctx) SSL_CTX_free(sctx);
  cs_tls_ctx_free(tls);
  return rc;
}

const cs_command cs_cmd_helper = {"helper", "run the control server (OONI test-helper protocol)",
                                  run};
