/* cmd_upload.c - `censorscope upload`: sends the measurements of the database's upload queue
 * that are still pending to a collector (fallbacks in turn), and records each one's fate
 * (sent with its measurement_uid, or refused with the collector's reason). A thin wrapper
 * around upload/upload.h; see docs/collector.md. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/tls.h"
#include "store/store.h"
#include "upload/upload.h"

static const char usage_text[] =
    "usage: censorscope upload [--db PATH] [--collector URL]... [--ca-file FILE]\n"
    "                          [--max-time S] [--timeout S] [--status]\n"
    "\n"
    "Uploads the measurements of the database that no collector has acknowledged yet, with\n"
    "OONI's probe-services API (POST /report, POST /report/{id}, close), each at most once:\n"
    "a measurement stays pending until the collector's measurement_uid is recorded. Network\n"
    "errors and 5xx: the next collector is tried, then the first again after a backoff\n"
    "(exponential, with jitter); a 4xx is final and recorded with the collector's reason.\n"
    "See docs/collector.md.\n"
    "\n"
    "options:\n"
    "  --db PATH          results database (default: $CENSORSCOPE_DB, else censorscope.db)\n"
    "  --collector URL    http(s)://HOST[:PORT][/PREFIX]; repeatable: fallbacks tried in\n"
    "                     turn (default: the collectors the last --collector run used)\n"
    "  --ca-file FILE     add the CA certificates in FILE (PEM) to the system trust store\n"
    "  --max-time S       stop after S seconds, leaving the rest pending (default 300)\n"
    "  --timeout S        one request's deadline, connect included (default 15)\n"
    "  --status           print the queue's counts and exit (nothing is sent)\n"
    "  -q, --quiet        nothing on standard error but errors\n"
    "  -h, --help         this help\n"
    "\n"
    "The last line: \"upload: A sent now, B refused now; N sent, M refused, K pending\"\n"
    "(A, B: this time; N, M, K: the whole database; --status prints the latter three).\n"
    "exit status: 0 nothing left pending, 1 some still pending or an error, 2 usage.\n";

enum { OPT_DB = 256, OPT_COLLECTOR, OPT_CA, OPT_MAX_TIME, OPT_TIMEOUT, OPT_STATUS };

static int upload_main(int argc, char **argv) {
  static const struct option lo[] = {{"db", required_argument, NULL, OPT_DB},
                                     {"collector", required_argument, NULL, OPT_COLLECTOR},
                                     {"ca-file", required_argument, NULL, OPT_CA},
                                     {"max-time", required_argument, NULL, OPT_MAX_TIME},
                                     {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                     {"status", no_argument, NULL, OPT_STATUS},
                                     {"quiet", no_argument, NULL, 'q'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  const char *db = NULL, *ca = NULL, *colls[CS_UPLOAD_MAX_COLLECTORS];
  size_t ncolls = 0;
  double max_time = 300, timeout = 15;
  bool status_only = false, quiet = false;
  char err[512];
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
    switch (c) {
    case OPT_DB: db = optarg; break;
    case OPT_CA: ca = optarg; break;
    case OPT_STATUS: status_only = true; break;
    case 'q': quiet = true; break;
    case OPT_COLLECTOR:
      if (ncolls == CS_UPLOAD_MAX_COLLECTORS) {
        fprintf(stderr, "upload: at most %d --collector\n", CS_UPLOAD_MAX_COLLECTORS);
        return 2;
      }
      if (cs_upload_url_check(optarg, err, sizeof err) < 0) {
        fprintf(stderr, "upload: --collector: %s\n", err);
        return 2;
      }
      colls[ncolls++] = optarg;
      break;
    case OPT_MAX_TIME: {
      char *end;
      max_time = strtod(optarg, &end);
      if (*end || !(max_time > 0) || max_time > 86400) {
        fprintf(stderr, "upload: --max-time needs seconds in (0, 86400]\n");
        return 2;
      }
      break;
    }
    case OPT_TIMEOUT: {
      char *end;
      timeout = strtod(optarg, &end);
      if (*end || !(timeout > 0) || timeout > 3600) {
        fprintf(stderr, "upload: --timeout needs seconds in (0, 3600]\n");
        return 2;
      }
      break;
    }
    case 'h': fputs(usage_text, stdout); return 0;
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "upload: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!db) {
    const char *env = getenv("CENSORSCOPE_DB");
    db = env && *env ? env : "censorscope.db";
  }
  cs_store *s = cs_store_open(db, err, sizeof err);
  if (!s) {
    fprintf(stderr, "upload: cannot open the database %s: %s\n", db, err);
    return 1;
  }
  int rc = 1;
  char saved[CS_UPLOAD_MAX_COLLECTORS * 520];
  if (!status_only && ncolls == 0) { /* the collectors a --collector run recorded */
    int g = cs_store_meta_get(s, "collectors", saved, sizeof saved);
    for (char *p = g == 1 ? saved : NULL; p && *p && ncolls < CS_UPLOAD_MAX_COLLECTORS;) {
      char *nl = strchr(p, '\n');
      if (nl) *nl = 0;
      if (cs_upload_url_check(p, err, sizeof err) == 0) colls[ncolls++] = p;
      p = nl ? nl + 1 : NULL;
    }
    if (ncolls == 0) {
      fprintf(stderr, "upload: no --collector given, and %s records none\n", db);
      cs_store_close(s);
      return 2;
    }
  }
  cs_tls_ctx *tls = NULL;
  cs_upload_stats st = {0};
  if (!status_only) {
    tls = cs_tls_ctx_new(ca, false, err, sizeof err);
    if (!tls) {
      fprintf(stderr, "upload: TLS setup failed: %s\n", err);
      goto out;
    }
    cs_upload_cfg cfg = {.collectors = colls,
                         .ncollectors = ncolls,
                         .tls = tls,
                         .connect_timeout = timeout < 5 ? timeout : 5,
                         .request_timeout = timeout,
                         .log = quiet ? NULL : stderr,
                         .cmd = "upload"};
    if (cs_upload_drain(s, &cfg, max_time, &st, err, sizeof err) < 0) {
      fprintf(stderr, "upload: %s\n", err);
      goto out;
    }
    if (st.store_error) goto out;
  }
  cs_store_upload_tally t;
  if (cs_store_upload_counts(s, 0, &t) != CS_STORE_OK) {
    fprintf(stderr, "upload: cannot read the queue: %s\n", cs_store_errmsg(s));
    goto out;
  }
  if (status_only)
    printf("upload: %lld sent, %lld refused, %lld pending\n", (long long)t.sent,
           (long long)t.refused, (long long)t.pending);
  else if (!quiet || t.pending)
    fprintf(stderr,
            "upload: %zu sent now, %zu refused now; %lld sent, %lld refused, %lld pending\n",
            st.sent, st.refused, (long long)t.sent, (long long)t.refused, (long long)t.pending);
  rc = t.pending && !status_only ? 1 : 0;
out:
  cs_tls_ctx_free(tls);
  cs_store_close(s);
  return rc;
}

const cs_command cs_cmd_upload = {
    "upload", "send the database's pending measurements to a collector", upload_main};
