/* probe_opts.c - see probe_opts.h */
#include "cli/probe_opts.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/tls.h"
#include "util/ipnet.h"

const char cs_probe_opts_help[] =
    "  -f, --input-file FILE  read URLs from FILE: a Citizen Lab test list (CSV with a\n"
    "                         url,category_code,... header) or one URL per line\n"
    "  -o, --output FILE      append measurements to FILE instead of standard output\n"
    "      --ca-file FILE     add the CA certificates in FILE (PEM) to the system trust store\n"
    "      --resolver SPEC    system (default: getaddrinfo, as configured in /etc/resolv.conf),\n"
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
    "      --db PATH          also store every measurement in this SQLite database, durably,\n"
    "                         as soon as it is done (`censorscope report` reads it);\n"
    "                         web_connectivity default: $CENSORSCOPE_DB, else censorscope.db\n"
    "      --no-db            do not use a database\n"
    "      --resume           continue the last unfinished run of the same list in the\n"
    "                         database: URLs already measured are not measured again\n"
    "      --per-host N       at most N measurements of one host at once (default 2)\n"
    "  -q, --quiet            nothing on standard error but errors\n"
    "  -v, --verbose          one line per measured URL (a live progress line is shown\n"
    "                         instead when standard error is a terminal)\n"
    "  -h, --help             show this help\n";

void cs_probe_opts_init(cs_probe_opts *o, const char *cmd, bool db_by_default) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->db_by_default = db_by_default;
  o->parallel = 1;
  o->out = stdout;
  o->cfg.resolver = "system";
  o->cfg.software_version = CS_VERSION;
}

static int secs(cs_probe_opts *o, const char *name, const char *v, double *out) {
  char *end;
  double d = strtod(v, &end);
  if (*end || !(d > 0) || d > 3600) {
    fprintf(stderr, "%s: %s needs a number of seconds in (0, 3600]\n", o->cmd, name);
    return -1;
  }
  *out = d;
  return 1;
}

int cs_probe_opts_handle(cs_probe_opts *o, int c, const char *arg) {
  cs_ip ip;
  switch (c) {
  case 'o': o->output = arg; return 1;
  case 'f': o->list_file = arg; return 1;
  case 'q': o->quiet = true; return 1;
  case 'v': o->verbose = true; return 1;
  case 'h': return 2;
  case CS_OPT_CA: o->ca_file = arg; return 1;
  case CS_OPT_RESOLVER:
    if (strcmp(arg, "system") && strncmp(arg, "udp://", 6) && strncmp(arg, "https://", 8)) {
      fprintf(stderr, "%s: --resolver must be system, udp://IP:PORT or https://URL\n", o->cmd);
      return -1;
    }
    o->cfg.resolver = arg;
    return 1;
  case CS_OPT_SNI: o->cfg.sni = arg; return 1;
  case CS_OPT_ADDRESS:
    if (!cs_ip_parse(arg, &ip)) {
      fprintf(stderr, "%s: --address needs an IP address\n", o->cmd);
      return -1;
    }
    o->cfg.address = arg;
    return 1;
  case CS_OPT_LABNET:
    if (cs_labnet_add(arg) < 0) {
      fprintf(stderr, "%s: bad --lab-net '%s' (CIDR expected)\n", o->cmd, arg);
      return -1;
    }
    return 1;
  case 'j': {
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || n < 1 || n > 4096) {
      fprintf(stderr, "%s: -j needs a number in 1..4096\n", o->cmd);
      return -1;
    }
    o->parallel = (size_t)n;
    return 1;
  }
  case CS_OPT_DB: o->db_path = arg; return 1;
  case CS_OPT_NO_DB: o->no_db = true; return 1;
  case CS_OPT_RESUME: o->resume = true; return 1;
  case CS_OPT_PER_HOST: {
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || n < 1 || n > 64) {
      fprintf(stderr, "%s: --per-host needs a number in 1..64\n", o->cmd);
      return -1;
    }
    o->per_host = (size_t)n;
    return 1;
  }
  case CS_OPT_CC: o->cfg.probe_cc = arg; return 1;
  case CS_OPT_ASN: o->cfg.probe_asn = arg; return 1;
  case CS_OPT_DNS_TO: return secs(o, "--dns-timeout", arg, &o->cfg.dns_timeout);
  case CS_OPT_TCP_TO: return secs(o, "--tcp-timeout", arg, &o->cfg.tcp_timeout);
  case CS_OPT_TLS_TO: return secs(o, "--tls-timeout", arg, &o->cfg.tls_timeout);
  case CS_OPT_HTTP_TO: return secs(o, "--http-timeout", arg, &o->cfg.http_timeout);
  default: return 0;
  }
}

/* The database `censorscope report` reads by default: $CENSORSCOPE_DB, else ./censorscope.db. */
static const char *default_db(char *out, size_t cap) {
  const char *env = getenv("CENSORSCOPE_DB");
  snprintf(out, cap, "%s", env && *env ? env : "censorscope.db");
  return out;
}

int cs_probe_opts_finish(cs_probe_opts *o, int argc, char **argv, int optind_) {
  for (int i = optind_; i < argc; i++)
    if (cs_inputs_add(&o->inputs, argv[i], NULL, 0) < 0) return 2;
  if (o->list_file) {
    long skipped = cs_inputs_load(&o->inputs, o->list_file);
    if (skipped < 0) {
      fprintf(stderr, "%s: cannot read %s: %s\n", o->cmd, o->list_file, strerror(errno));
      return 2;
    }
    if (skipped > 0)
      fprintf(stderr, "%s: %ld malformed row(s) of %s skipped (listed above)\n", o->cmd, skipped,
              o->list_file);
  }
  if (o->inputs.n == 0) {
    fprintf(stderr, "%s: no URL to measure\n", o->cmd);
    return 2;
  }
  char err[256];
  o->cfg.tls = cs_tls_ctx_new(o->ca_file, false, err, sizeof err);
  if (!o->cfg.tls) {
    fprintf(stderr, "%s: TLS setup failed: %s\n", o->cmd, err);
    return 2;
  }
  if (o->output) {
    int fd = open(o->output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || !(o->out = fdopen(fd, "a"))) {
      fprintf(stderr, "%s: cannot open %s: %s\n", o->cmd, o->output, strerror(errno));
      if (fd >= 0) close(fd);
      o->out = stdout;
      return 2;
    }
  }
  if (!o->no_db && (o->db_path || o->db_by_default)) {
    static char path[PATH_MAX];
    const char *db = o->db_path;
    if (!db) db = default_db(path, sizeof path);
    if (!db) {
      fprintf(stderr, "%s: no place for the default database (set --db or $CENSORSCOPE_DB, or --no-db)\n",
              o->cmd);
      return 2;
    }
    o->store = cs_store_open(db, err, sizeof err);
    if (!o->store) {
      fprintf(stderr, "%s: cannot open the database %s: %s\n", o->cmd, db, err);
      return 2;
    }
    char list[PATH_MAX] = "";
    if (o->list_file && !realpath(o->list_file, list)) snprintf(list, sizeof list, "%s", o->list_file);
    char params[256];
    snprintf(params, sizeof params, "{\"parallel\":%zu,\"resolver\":\"%s\"}", o->parallel,
             o->cfg.resolver);
    o->run_id = cs_store_run_begin(o->store, o->cmd, list, params, o->resume);
    if (o->run_id < 0) {
      fprintf(stderr, "%s: cannot start a run in %s: %s\n", o->cmd, db, cs_store_errmsg(o->store));
      return 2;
    }
    if (!o->quiet) fprintf(stderr, "%s: storing measurements in %s (run %lld)\n", o->cmd, db,
                           (long long)o->run_id);
  } else if (o->resume) {
    fprintf(stderr, "%s: --resume needs the database\n", o->cmd);
    return 2;
  }
  if (o->out != stdout) {
    long n = cs_store_sync_jsonl(o->store, o->run_id, o->out, o->output, o->resume && o->store);
    if (n < 0) {
      fprintf(stderr, "%s: cannot bring %s up to date with the database: %s\n", o->cmd, o->output,
              strerror(errno));
      return 2;
    }
    if (n > 0 && !o->quiet)
      fprintf(stderr, "%s: resumed: %ld stored measurement(s) missing from %s were written to it\n",
              o->cmd, n, o->output);
  }
  o->cfg.test_start = time(NULL);
  static char rid[128];
  cs_probe_report_id(rid, sizeof rid, o->cmd, o->cfg.probe_cc, o->cfg.probe_asn,
                     o->cfg.test_start);
  o->cfg.report_id = rid;
  return 0;
}

void cs_probe_opts_run_end(cs_probe_opts *o) {
  if (o->store && o->run_id > 0) cs_store_run_end(o->store, o->run_id);
}

void cs_probe_opts_free(cs_probe_opts *o) {
  cs_store_close(o->store);
  o->store = NULL;
  cs_tls_ctx_free(o->cfg.tls);
  o->cfg.tls = NULL;
  if (o->out && o->out != stdout) fclose(o->out);
  o->out = stdout;
  cs_inputs_free(&o->inputs);
}
