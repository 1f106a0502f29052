/* cmd_urlgetter.c - `censorscope urlgetter [OPTIONS] URL...`: measures each URL step by step
 * and prints one OONI measurement (JSON) per line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/loop.h"
#include "engine/tls.h"
#include "nettests/urlgetter.h"
#include "util/ipnet.h"
#include "util/json.h"

static const char usage_text[] =
    "usage: censorscope urlgetter [OPTIONS] URL...\n"
    "\n"
    "For each URL: resolve the host, connect to every address (TCP, plus TLS for https),\n"
    "GET over the first address that works, follow up to 10 redirects, and print one OONI\n"
    "measurement (test_name \"urlgetter\") per line, with every DNS query and reply\n"
    "(including duplicate replies), TCP connect, TLS handshake, HTTP transaction and network\n"
    "event, timed from the measurement start. The probe's own IP address is never written.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE      append measurements to FILE instead of standard output\n"
    "      --ca-file FILE     add the CA certificates in FILE (PEM) to the system trust store\n"
    "      --resolver SPEC    system (default: getaddrinfo, as configured in /etc/resolv.conf)\n"
    "                         udp://IP:PORT (plain DNS; duplicate replies are recorded)\n"
    "                         or https://HOST/PATH (DNS over HTTPS, RFC 8484 GET)\n"
    "      --sni NAME         TLS server name to send (default: the URL's host)\n"
    "      --address IP       connect to IP instead of resolving the URL's host\n"
    "      --lab-net CIDR     treat this reserved range as public address space (repeatable;\n"
    "                         e.g. 198.18.0.0/15 for the testbed)\n"
    "  -j, --parallel N       measure up to N URLs at once (default 1)\n"
    "      --probe-cc CC      country code recorded in the envelope (default ZZ)\n"
    "      --probe-asn ASN    network recorded in the envelope, e.g. AS45595 (default AS0)\n"
    "      --dns-timeout S    DNS step deadline in seconds (default 4, as OONI)\n"
    "      --tcp-timeout S    TCP connect deadline (default 10)\n"
    "      --tls-timeout S    TLS handshake deadline (default 10)\n"
    "      --http-timeout S   HTTP round trip + body deadline (default 10)\n"
    "  -q, --quiet            no per-URL summary on standard error\n"
    "  -h, --help             show this help\n"
    "\n"
    "exit status: 0 when every URL was measured (whatever it found), 2 on a usage error.\n";

typedef struct {
  cs_loop *l;
  cs_probe_cfg cfg;
  char **urls;
  size_t nurls, next, running, parallel;
  FILE *out;
  bool quiet;
  int write_error;
} run_state;

static void start_more(run_state *s);

static void summary(const char *json, size_t len) {
  cs_arena *a = cs_arena_new(0);
  if (!a) return;
  char err[64];
  cs_jval *v = cs_json_parse(a, json, len, NULL, err, sizeof err);
  const cs_jval *tk = cs_json_get(v, "test_keys");
  const char *failure = cs_json_get_str(tk, "failure", NULL);
  const char *op = cs_json_get_str(tk, "failed_operation", NULL);
  const cs_jval *reqs = cs_json_get(tk, "requests");
  double code = 0;
  if (reqs && reqs->type == CS_JARR && reqs->len > 0) {
    const cs_jval *resp = cs_json_get(reqs->kids[0], "response");
    code = cs_json_get_num(resp, "code", 0);
  }
  fprintf(stderr, "%-8s %s%s%s%s (%.2fs)\n", failure ? "FAILED" : "ok",
          cs_json_get_str(v, "input", "?"), failure ? ": " : "", failure ? failure : "",
          failure && op ? "" : "", cs_json_get_num(v, "test_runtime", 0));
  if (!failure && code > 0) fprintf(stderr, "         HTTP %d\n", (int)code);
  else if (failure && op) fprintf(stderr, "         during %s\n", op);
  cs_arena_free(a);
}

static void on_done(void *arg, const char *json, size_t len) {
  run_state *s = arg;
  if (fwrite(json, 1, len, s->out) != len || fputc('\n', s->out) == EOF || fflush(s->out))
    s->write_error = errno ? errno : EIO;
  if (!s->quiet) summary(json, len);
  s->running--;
  start_more(s);
}

static void start_more(run_state *s) {
  while (s->running < s->parallel && s->next < s->nurls) {
    const char *url = s->urls[s->next++];
    if (cs_urlgetter_start(s->l, &s->cfg, url, on_done, s) < 0) {
      fprintf(stderr, "urlgetter: out of memory starting %s\n", url);
      continue;
    }
    s->running++;
  }
}

static double parse_secs(const char *opt, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (*end || !(d > 0) || d > 3600) {
    fprintf(stderr, "urlgetter: %s needs a number of seconds in (0, 3600]\n", opt);
    exit(2);
  }
  return d;
}

static int run(int argc, char **argv) {
  enum { O_CA = 256, O_RES, O_SNI, O_ADDR, O_LAB, O_CC, O_ASN, O_DT, O_TT, O_LT, O_HT };
  static const struct option opts[] = {
      {"output", required_argument, 0, 'o'},   {"ca-file", required_argument, 0, O_CA},
      {"resolver", required_argument, 0, O_RES}, {"sni", required_argument, 0, O_SNI},
      {"address", required_argument, 0, O_ADDR}, {"lab-net", required_argument, 0, O_LAB},
      {"parallel", required_argument, 0, 'j'}, {"probe-cc", required_argument, 0, O_CC},
      {"probe-asn", required_argument, 0, O_ASN}, {"dns-timeout", required_argument, 0, O_DT},
      {"tcp-timeout", required_argument, 0, O_TT}, {"tls-timeout", required_argument, 0, O_LT},
      {"http-timeout", required_argument, 0, O_HT}, {"quiet", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  run_state s = {.parallel = 1, .out = stdout};
  s.cfg.resolver = "system";
  s.cfg.software_version = CS_VERSION;
  const char *ca_file = NULL, *output = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:j:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o': output = optarg; break;
    case O_CA: ca_file = optarg; break;
    case O_RES:
      if (strcmp(optarg, "system") && strncmp(optarg, "udp://", 6) &&
          strncmp(optarg, "https://", 8)) {
        fprintf(stderr, "urlgetter: --resolver must be system, udp://IP:PORT or https://URL\n");
        return 2;
      }
      s.cfg.resolver = optarg;
      break;
    case O_SNI: s.cfg.sni = optarg; break;
    case O_ADDR: {
      cs_ip ip;
      if (!cs_ip_parse(optarg, &ip)) {
        fprintf(stderr, "urlgetter: --address needs an IP address\n");
        return 2;
      }
      s.cfg.address = optarg;
      break;
    }
    case O_LAB:
      if (cs_labnet_add(optarg) < 0) {
        fprintf(stderr, "urlgetter: bad --lab-net '%s' (CIDR expected)\n", optarg);
        return 2;
      }
      break;
    case 'j': {
      char *end;
      long n = strtol(optarg, &end, 10);
      if (*end || n < 1 || n > 4096) {
        fprintf(stderr, "urlgetter: -j needs a number in 1..4096\n");
        return 2;
      }
      s.parallel = (size_t)n;
      break;
    }
    case O_CC: s.cfg.probe_cc = optarg; break;
    case O_ASN: s.cfg.probe_asn = optarg; break;
    case O_DT: s.cfg.dns_timeout = parse_secs("--dns-timeout", optarg); break;
    case O_TT: s.cfg.tcp_timeout = parse_secs("--tcp-timeout", optarg); break;
    case O_LT: s.cfg.tls_timeout = parse_secs("--tls-timeout", optarg); break;
    case O_HT: s.cfg.http_timeout = parse_secs("--http-timeout", optarg); break;
    case 'q': s.quiet = true; break;
    case 'h': fputs(usage_text, stdout); return 0;
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (optind >= argc) {
    fputs(usage_text, stderr);
    return 2;
  }
  s.urls = argv + optind;
  s.nurls = (size_t)(argc - optind);
  char err[256];
  s.cfg.tls = cs_tls_ctx_new(ca_file, false, err, sizeof err);
  if (!s.cfg.tls) {
    fprintf(stderr, "urlgetter: TLS setup failed: %s\n", err);
    return 2;
  }
  if (output) {
    int fd = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || !(s.out = fdopen(fd, "a"))) {
      fprintf(stderr, "urlgetter: cannot open %s: %s\n", output, strerror(errno));
      cs_tls_ctx_free(s.cfg.tls);
      return 2;
    }
  }
  s.cfg.test_start = time(NULL);
  char rid[128];
  cs_probe_report_id(rid, sizeof rid, "urlgetter", s.cfg.probe_cc, s.cfg.probe_asn,
                     s.cfg.test_start);
  s.cfg.report_id = rid;
  s.l = cs_loop_new();
  if (!s.l) {
    fprintf(stderr, "urlgetter: cannot create the event loop\n");
    return 1;
  }
  start_more(&s);
  int rc = cs_loop_run(s.l) < 0 ? 1 : 0;
  cs_loop_free(s.l);
  cs_tls_ctx_free(s.cfg.tls);
  if (s.out != stdout) fclose(s.out);
  if (s.write_error) {
    fprintf(stderr, "urlgetter: writing measurements failed: %s\n", strerror(s.write_error));
    rc = 1;
  }
  return rc;
}

const cs_command cs_cmd_urlgetter = {"urlgetter", "measure URLs step by step (OONI urlgetter)", run};
