/* cmd_collector.c - `censorscope collector`: the fleet's server (src/collector/collector.h):
 * OONI's probe-services submission API, durable cans, PostgreSQL, the explorer API and UI.
 * Parses options, blocks the stop signals in every thread and runs until SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "collector/collector.h"

static const char usage_text[] =
    "usage: censorscope collector --listen ADDR:PORT --pg CONNINFO --data-dir DIR [OPTIONS]\n"
    "       censorscope collector --read-only --listen ADDR:PORT --pg CONNINFO [OPTIONS]\n"
    "\n"
    "Run the fleet's collector: OONI's probe-services submission API (POST /report,\n"
    "POST /report/{report_id}, POST /report/{report_id}/close, POST\n"
    "/api/v1/submit_measurement) for our nettests and OONI's own measurements. Every accepted\n"
    "measurement is appended to a can (DATA_DIR/cans/YYYYMMDD/HH.jsonl) and flushed to disk\n"
    "before the answer, then stored in PostgreSQL (daily partitions) with the verdict of its\n"
    "nettest's analysis; a re-upload of the same measurement is stored once. On start the\n"
    "schema is applied and cans not yet fully in PostgreSQL are replayed. It also serves the\n"
    "explorer API and web UI. See docs/collector.md.\n"
    "\n"
    "options:\n"
    "      --listen ADDR:PORT   listen on 1.2.3.4:PORT or [::1]:PORT (PORT 0: any free port,\n"
    "                           printed on standard error)\n"
    "      --pg CONNINFO        the PostgreSQL database (libpq conninfo or URI)\n"
    "      --pg-read CONNINFO   explorer reads go to this database (a streaming replica);\n"
    "                           default: --pg\n"
    "      --data-dir DIR       where the cans are kept (required unless --read-only)\n"
    "      --read-only          serve only the GET routes and the UI: no submissions, no\n"
    "                           jobs, no schema changes (e.g. in front of a replica)\n"
    "      --threads N          HTTP worker threads, each with its own PostgreSQL connection\n"
    "                           (default 8)\n"
    "      --max-body BYTES     largest request body; larger ones are refused with 413\n"
    "                           (default 1048576)\n"
    "      --rate PER_S         submissions per second per client network (/24 or /48),\n"
    "                           token bucket; 0 turns the limit off (default 50)\n"
    "      --burst N            the bucket's size (default 500)\n"
    "      --collector-id N     the n{N} part of the report_ids this collector makes\n"
    "                           (default 1)\n"
    "      --max-age DAYS       refuse measurements whose measurement_start_time is older\n"
    "                           (default 30); more than 1 day in the future is refused too\n"
    "      --max-conns N        open connections in total (default 1024)\n"
    "      --conns-per-ip N     open connections per client address (default 64, 0: no limit)\n"
    "      --timeout S          close connections idle or slow for S seconds (default 30)\n"
    "      --admin-token FILE   the bearer token of the admin routes (the work lists)\n"
    "      --fingerprints DIR   blockpage fingerprints for the verdicts (default\n"
    "                           $CS_FINGERPRINTS_DIR, else data/fingerprints)\n"
    "  -q, --quiet              no start-up lines\n"
    "  -h, --help               show this help\n"
    "\n"
    "exit status: 0 after SIGINT/SIGTERM, 1 when it cannot start (listen, PostgreSQL, data\n"
    "dir, replay), 2 on a usage error.\n";

enum {
  O_LISTEN = 256,
  O_PG,
  O_PGREAD,
  O_DATA,
  O_RO,
  O_THREADS,
  O_BODY,
  O_RATE,
  O_BURST,
  O_CID,
  O_AGE,
  O_CONNS,
  O_CPI,
  O_TIMEOUT,
  O_ADMIN,
  O_FP
};

static const struct option longopts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"pg", required_argument, NULL, O_PG},
    {"pg-read", required_argument, NULL, O_PGREAD},
    {"data-dir", required_argument, NULL, O_DATA},
    {"read-only", no_argument, NULL, O_RO},
    {"threads", required_argument, NULL, O_THREADS},
    {"max-body", required_argument, NULL, O_BODY},
    {"rate", required_argument, NULL, O_RATE},
    {"burst", required_argument, NULL, O_BURST},
    {"collector-id", required_argument, NULL, O_CID},
    {"max-age", required_argument, NULL, O_AGE},
    {"max-conns", required_argument, NULL, O_CONNS},
    {"conns-per-ip", required_argument, NULL, O_CPI},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"admin-token", required_argument, NULL, O_ADMIN},
    {"fingerprints", required_argument, NULL, O_FP},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool parse_u(const char *s, unsigned long long lo, unsigned long long hi,
                    unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static bool parse_d(const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* The token file's first line, without surrounding white space; at least 16 characters. */
static char *read_token(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char line[1024];
  char *t = fgets(line, sizeof line, f) ? line : NULL;
  fclose(f);
  if (!t) return NULL;
  while (*t == ' ' || *t == '\t') t++;
  size_t n = strlen(t);
  while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
    t[--n] = 0;
  return n >= 16 ? strdup(t) : NULL;
}

static int run(int argc, char **argv) {
  cs_coll_cfg cfg = {.threads = 8,
                     .max_body = 1u << 20,
                     .rate = 50,
                     .burst = 500,
                     .collector_id = 1,
                     .max_age_s = 30 * 86400.0,
                     .max_future_s = 86400.0,
                     .conns_per_ip = 64,
                     .max_conns = 1024,
                     .conn_timeout_s = 30};
  char *token = NULL;
  int c;
  unsigned long long u;
  double d;
  optind = 1;
  while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
    switch (c) {
    case O_LISTEN: cfg.listen = optarg; break;
    case O_PG: cfg.pg = optarg; break;
    case O_PGREAD: cfg.pg_read = optarg; break;
    case O_DATA: cfg.data_dir = optarg; break;
    case O_RO: cfg.read_only = true; break;
    case O_THREADS:
      if (!parse_u(optarg, 1, 256, &u)) goto bad;
      cfg.threads = (unsigned)u;
      break;
    case O_BODY:
      if (!parse_u(optarg, 1024, 256u << 20, &u)) goto bad;
      cfg.max_body = (size_t)u;
      break;
    case O_RATE:
      if (!parse_d(optarg, 0, 1e9, &cfg.rate)) goto bad;
      break;
    case O_BURST:
      if (!parse_d(optarg, 1, 1e9, &cfg.burst)) goto bad;
      break;
    case O_CID:
      if (!parse_u(optarg, 0, 999999, &u)) goto bad;
      cfg.collector_id = (unsigned)u;
      break;
    case O_AGE:
      if (!parse_d(optarg, 0.001, 36500, &d)) goto bad;
      cfg.max_age_s = d * 86400;
      break;
    case O_CONNS:
      if (!parse_u(optarg, 1, 1000000, &u)) goto bad;
      cfg.max_conns = (unsigned)u;
      break;
    case O_CPI:
      if (!parse_u(optarg, 0, 1000000, &u)) goto bad;
      cfg.conns_per_ip = (unsigned)u;
      break;
    case O_TIMEOUT:
      if (!parse_u(optarg, 1, 86400, &u)) goto bad;
      cfg.conn_timeout_s = (unsigned)u;
      break;
    case O_ADMIN:
      free(token);
      token = read_token(optarg);
      if (!token) {
        fprintf(stderr, "collector: --admin-token %s: unreadable, or shorter than 16 characters\n",
                optarg);
        return 2;
      }
      cfg.admin_token = token;
      break;
    case O_FP: cfg.fingerprints = optarg; break;
    case 'q': cfg.quiet = true; break;
    case 'h':
      fputs(usage_text, stdout);
      free(token);
      return 0;
    default:
      fputs(usage_text, stderr);
      free(token);
      return 2;
    }
    continue;
  bad:
    fprintf(stderr, "collector: bad value '%s' for --%s\n", optarg, longopts[c - O_LISTEN].name);
    free(token);
    return 2;
  }
  if (optind < argc || !cfg.listen || !cfg.pg || (!cfg.read_only && !cfg.data_dir)) {
    fprintf(stderr, "collector: --listen and --pg are required, and --data-dir unless "
                    "--read-only\n");
    fputs(usage_text, stderr);
    free(token);
    return 2;
  }
  /* every thread inherits the mask; cs_coll_run waits for the signals with sigwait */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int rc = cs_coll_run(&cfg);
  free(token);
  return rc;
}

const cs_command cs_cmd_collector = {
    "collector", "the fleet's server: OONI submission API, PostgreSQL, explorer", run};
