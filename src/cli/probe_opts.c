/* probe_opts.c - see probe_opts.h */
#include "cli/probe_opts.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/resolve.h"
#include "engine/tls.h"
#include "upload/work_client.h"
#include "util/ipnet.h"
#include "util/json.h"

/* How a shared option's value is checked and stored. */
typedef enum {
  T_STR,   /* const char * */
  T_FLAG,  /* bool, set to true */
  T_SECS,  /* double seconds in (0, 3600] */
  T_COUNT, /* size_t in [min, max] */
  T_FN,    /* a checking setter */
  T_HELP
} opt_type;

typedef struct {
  cs_optdef d;
  opt_type type;
  size_t off;                                   /* offsetof(cs_probe_opts, field) */
  long min, max;                                /* T_COUNT bounds */
  int (*fn)(cs_probe_opts *o, const char *arg); /* T_FN: 1, or -1 with a message printed */
} probe_opt;

/* The engine's one spec parser decides (engine/resolve.h), so what the option accepts is
 * exactly what a measurement can use; "" is refused here (the parser reads it as system). */
static int set_resolver(cs_probe_opts *o, const char *arg) {
  char err[256];
  if (!*arg || cs_resolver_spec_parse(arg, NULL, err, sizeof err) < 0) {
    fprintf(stderr,
            "%s: --resolver must be system, udp://IP:PORT, tcp://IP:PORT or https://URL%s%s\n",
            o->cmd, *arg ? ": " : "", *arg ? err : "");
    return -1;
  }
  o->cfg.resolver = arg;
  return 1;
}

static int set_address(cs_probe_opts *o, const char *arg) {
  cs_ip ip;
  if (!cs_ip_parse(arg, &ip)) {
    fprintf(stderr, "%s: --address needs an IP address\n", o->cmd);
    return -1;
  }
  o->cfg.address = arg;
  return 1;
}

static int set_labnet(cs_probe_opts *o, const char *arg) {
  if (cs_labnet_add(arg) < 0) {
    fprintf(stderr, "%s: bad --lab-net '%s' (CIDR expected)\n", o->cmd, arg);
    return -1;
  }
  return 1;
}

static int set_collector(cs_probe_opts *o, const char *arg) {
  char err[256];
  if (o->ncollectors == CS_UPLOAD_MAX_COLLECTORS) {
    fprintf(stderr, "%s: at most %d --collector\n", o->cmd, CS_UPLOAD_MAX_COLLECTORS);
    return -1;
  }
  if (cs_upload_url_check(arg, err, sizeof err) < 0) {
    fprintf(stderr, "%s: --collector: %s\n", o->cmd, err);
    return -1;
  }
  o->collectors[o->ncollectors++] = arg;
  return 1;
}

#define F(field) offsetof(cs_probe_opts, field)
#define OPT(name, sh, arg, help, rep)                                                              \
  { name, sh, arg, help, rep, NULL }

static const probe_opt probe_opts[] = {
    {OPT("input-file", 'f', "FILE",
         "read inputs from FILE: for URLs a Citizen Lab test list (CSV with a\n"
         "url,category_code,... header) or one URL per line; else one input per line",
         false),
     T_STR, F(list_file), 0, 0, NULL},
    {OPT("output", 'o', "FILE", "append measurements to FILE instead of standard output", false),
     T_STR, F(output), 0, 0, NULL},
    {OPT("ca-file", 0, "FILE", "add the CA certificates in FILE (PEM) to the system trust store",
         false),
     T_STR, F(ca_file), 0, 0, NULL},
    {OPT("resolver", 0, "SPEC",
         "system (default: getaddrinfo, as configured in /etc/resolv.conf),\n"
         "udp://IP:PORT (plain DNS; duplicate replies are recorded),\n"
         "tcp://IP:PORT (plain DNS over TCP)\n"
         "or https://HOST/PATH (DNS over HTTPS, RFC 8484 GET)",
         false),
     T_FN, 0, 0, 0, set_resolver},
    {OPT("sni", 0, "NAME", "TLS server name to send (default: the URL's host)", false), T_STR,
     F(cfg.sni), 0, 0, NULL},
    {OPT("address", 0, "IP", "connect to IP instead of resolving the URL's host", false), T_FN, 0,
     0, 0, set_address},
    {OPT("lab-net", 0, "CIDR",
         "treat this reserved range as public address space (repeatable;\n"
         "e.g. 198.18.0.0/15 for the testbed)",
         true),
     T_FN, 0, 0, 0, set_labnet},
    {OPT("parallel", 'j', "N", "measure up to N inputs at once (default 1)", false), T_COUNT,
     F(parallel), 1, 4096, NULL},
    {OPT("probe-cc", 0, "CC", "country code recorded in the envelope (default ZZ)", false), T_STR,
     F(cfg.probe_cc), 0, 0, NULL},
    {OPT("probe-asn", 0, "ASN", "network recorded in the envelope, e.g. AS45595 (default AS0)",
         false),
     T_STR, F(cfg.probe_asn), 0, 0, NULL},
    {OPT("dns-timeout", 0, "S", "DNS step deadline in seconds (default 4, as OONI)", false), T_SECS,
     F(cfg.dns_timeout), 0, 0, NULL},
    {OPT("tcp-timeout", 0, "S", "TCP connect deadline (default 10)", false), T_SECS,
     F(cfg.tcp_timeout), 0, 0, NULL},
    {OPT("tls-timeout", 0, "S", "TLS handshake deadline (default 10)", false), T_SECS,
     F(cfg.tls_timeout), 0, 0, NULL},
    {OPT("http-timeout", 0, "S", "HTTP round trip + body deadline (default 10)", false), T_SECS,
     F(cfg.http_timeout), 0, 0, NULL},
    {OPT("db", 0, "PATH",
         "also store every measurement in this SQLite database, durably,\n"
         "as soon as it is done (`censorscope report` reads it);\n"
         "web_connectivity default: $CENSORSCOPE_DB, else censorscope.db",
         false),
     T_STR, F(db_path), 0, 0, NULL},
    {OPT("no-db", 0, NULL, "do not use a database", false), T_FLAG, F(no_db), 0, 0, NULL},
    {OPT("no-packets", 0, NULL,
         "do not capture the packets the network sends back on the\n"
         "measured flows (web_connectivity, urlgetter, dnscheck,\n"
         "resolver_identity: x_packets_status \"disabled\"; nor the TTL-copy\n"
         "probe of a DNS injection); capture needs CAP_NET_RAW, else it says\n"
         "\"no_privilege\"",
         false),
     T_FLAG, F(cfg.no_packets), 0, 0, NULL},
    {OPT("resume", 0, NULL,
         "continue the last unfinished run of the same list in the\n"
         "database: inputs already measured are not measured again",
         false),
     T_FLAG, F(resume), 0, 0, NULL},
    {OPT("collector", 0, "URL",
         "upload each measurement to this collector (OONI's probe-services\n"
         "API) as soon as it is stored, without slowing the run; repeatable:\n"
         "fallbacks tried in turn. The queue is in the database: what is not\n"
         "sent by the end stays pending for `censorscope upload`",
         true),
     T_FN, 0, 0, 0, set_collector},
    {OPT("work", 0, "LIST",
         "measure the collector's work list LIST instead of given inputs\n"
         "(nettests with URL inputs; with --collector, --probe-cc, --probe-asn):\n"
         "claim a chunk, measure it, mark it done, until the list is done\n"
         "for this network; a chunk is uploaded once it is done",
         false),
     T_STR, F(work), 0, 0, NULL},
    {OPT("upload-wait", 0, "S",
         "with --collector: at the end, wait at most S seconds for the\n"
         "upload queue to drain (default 30)",
         false),
     T_SECS, F(upload_wait), 0, 0, NULL},
    {OPT("per-host", 0, "N", "at most N measurements of one host at once (default 2)", false),
     T_COUNT, F(per_host), 1, 64, NULL},
    {OPT("quiet", 'q', NULL, "nothing on standard error but errors", false), T_FLAG, F(quiet), 0, 0,
     NULL},
    {OPT("verbose", 'v', NULL,
         "one line per measured input (a live progress line is shown\n"
         "instead when standard error is a terminal)",
         false),
     T_FLAG, F(verbose), 0, 0, NULL},
    {OPT("help", 'h', NULL, "show this help", false), T_HELP, 0, 0, 0, NULL},
};

const cs_optdef *cs_probe_optdef(size_t i) {
  return i < sizeof probe_opts / sizeof *probe_opts ? &probe_opts[i].d : NULL;
}

void cs_probe_opts_init(cs_probe_opts *o, const char *cmd, bool db_by_default, cs_input_kind kind) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->db_by_default = db_by_default;
  o->kind = kind;
  o->parallel = 1;
  o->out = stdout;
  o->cfg.resolver = "system";
  o->cfg.software_version = CS_VERSION;
  o->upload_wait = 30;
}

int cs_probe_opts_set(cs_probe_opts *o, size_t i, const char *arg) {
  if (i >= sizeof probe_opts / sizeof *probe_opts) return -1;
  const probe_opt *p = &probe_opts[i];
  char *field = (char *)o + p->off, *end;
  switch (p->type) {
  case T_STR: memcpy(field, &arg, sizeof arg); return 1;
  case T_FLAG: *(bool *)(void *)field = true; return 1;
  case T_HELP: return 2;
  case T_FN: return p->fn(o, arg);
  case T_SECS: {
    double d = strtod(arg, &end);
    if (*end || !(d > 0) || d > 3600) {
      fprintf(stderr, "%s: --%s needs a number of seconds in (0, 3600]\n", o->cmd, p->d.name);
      return -1;
    }
    memcpy(field, &d, sizeof d);
    return 1;
  }
  case T_COUNT: {
    long n = strtol(arg, &end, 10);
    if (*end || !*arg || n < p->min || n > p->max) {
      if (p->d.short_name)
        fprintf(stderr, "%s: -%c needs a number in %ld..%ld\n", o->cmd, p->d.short_name, p->min,
                p->max);
      else
        fprintf(stderr, "%s: --%s needs a number in %ld..%ld\n", o->cmd, p->d.name, p->min, p->max);
      return -1;
    }
    size_t v = (size_t)n;
    memcpy(field, &v, sizeof v);
    return 1;
  }
  }
  return -1;
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
    long skipped = cs_inputs_load(&o->inputs, o->kind, o->list_file);
    if (skipped < 0) {
      fprintf(stderr, "%s: cannot read %s: %s\n", o->cmd, o->list_file, strerror(errno));
      return 2;
    }
    if (skipped > 0)
      fprintf(stderr, "%s: %ld malformed row(s) of %s skipped (listed above)\n", o->cmd, skipped,
              o->list_file);
  }
  if (o->work) {
    const char *why = o->kind != CS_INPUT_URL ? "is for nettests with URL inputs"
                      : o->inputs.n           ? "takes no other inputs"
                      : !o->ncollectors       ? "needs --collector"
                      : !o->cfg.probe_cc || !o->cfg.probe_asn || !strcmp(o->cfg.probe_cc, "ZZ")
                          ? "needs --probe-cc and --probe-asn (the lease is per network)"
                          : NULL;
    if (why) {
      fprintf(stderr, "%s: --work %s\n", o->cmd, why);
      return 2;
    }
  }
  if (o->inputs.n == 0 && o->kind == CS_INPUT_NONE && cs_inputs_add(&o->inputs, NULL, NULL, 0) < 0)
    return 2;
  if (o->inputs.n == 0 && !o->work) {
    fprintf(stderr, "%s: no %s to measure\n", o->cmd, o->kind == CS_INPUT_URL ? "URL" : "input");
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
      fprintf(stderr,
              "%s: no place for the default database (set --db or $CENSORSCOPE_DB, or --no-db)\n",
              o->cmd);
      return 2;
    }
    o->store = cs_store_open(db, err, sizeof err);
    if (!o->store) {
      fprintf(stderr, "%s: cannot open the database %s: %s\n", o->cmd, db, err);
      return 2;
    }
    char list[PATH_MAX] = "";
    if (o->list_file && !realpath(o->list_file, list))
      snprintf(list, sizeof list, "%s", o->list_file);
    if (o->work) snprintf(list, sizeof list, "work:%s", o->work);
    cs_buf pb; /* the run's parameters, as JSON */
    cs_buf_init(&pb, 0);
    cs_jw pw;
    cs_jw_init(&pw, &pb);
    cs_jw_obj_open(&pw);
    cs_jw_kint(&pw, "parallel", (int64_t)o->parallel);
    cs_jw_kstr(&pw, "resolver", o->cfg.resolver);
    cs_jw_obj_close(&pw);
    const char *params = cs_buf_cstr(&pb);
    o->run_id = params ? cs_store_run_begin(o->store, o->cmd, list, params, o->resume) : -1;
    cs_buf_free(&pb);
    if (o->run_id < 0) {
      fprintf(stderr, "%s: cannot start a run in %s: %s\n", o->cmd, db, cs_store_errmsg(o->store));
      return 2;
    }
    if (!o->quiet)
      fprintf(stderr, "%s: storing measurements in %s (run %lld)\n", o->cmd, db,
              (long long)o->run_id);
    o->db_used = db;
  } else if (o->resume) {
    fprintf(stderr, "%s: --resume needs the database\n", o->cmd);
    return 2;
  }
  if (o->ncollectors && !o->store) {
    fprintf(stderr, "%s: --collector needs the database (--db PATH): the upload queue is there\n",
            o->cmd);
    return 2;
  }
  if (o->ncollectors) {
    /* the list is kept for a later `censorscope upload` without --collector */
    cs_buf cb;
    cs_buf_init(&cb, 1u << 14);
    for (size_t i = 0; i < o->ncollectors; i++)
      cs_buf_printf(&cb, "%s%s", i ? "\n" : "", o->collectors[i]);
    const char *list = cs_buf_cstr(&cb);
    if (!list || cs_store_meta_set(o->store, "collectors", list) != CS_STORE_OK) {
      fprintf(stderr, "%s: cannot record the collectors: %s\n", o->cmd, cs_store_errmsg(o->store));
      cs_buf_free(&cb);
      return 2;
    }
    cs_buf_free(&cb);
    /* with --work, a chunk is uploaded once it is done (what earlier runs left is sent) */
    cs_upload_cfg uc = {.collectors = o->collectors,
                        .ncollectors = o->ncollectors,
                        .tls = o->cfg.tls,
                        .hold = o->work != NULL,
                        .hold_above = o->work ? cs_store_last_id(o->store) : -1,
                        .log = o->quiet ? NULL : stderr,
                        .cmd = o->cmd};
    o->upload = cs_upload_bg_start(o->db_used, &uc, err, sizeof err);
    if (!o->upload) {
      fprintf(stderr, "%s: %s\n", o->cmd, err);
      return 2;
    }
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
  cs_probe_report_id(rid, sizeof rid, o->cmd, o->cfg.probe_cc, o->cfg.probe_asn, o->cfg.test_start);
  o->cfg.report_id = rid;
  return 0;
}

static void sleep_s(double s) {
  struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* The --work loop (see cs_probe_opts_run). */
static int work_run(cs_probe_opts *o, cs_run *r) {
  cs_post_target targets[CS_UPLOAD_MAX_COLLECTORS];
  char err[512], ps[CS_STORE_PROBE_SET_LEN + 1];
  for (size_t i = 0; i < o->ncollectors; i++)
    if (cs_post_target_parse(&targets[i], o->collectors[i], err, sizeof err) < 0) return 1;
  if (cs_store_probe_set(o->store, ps, sizeof ps) != CS_STORE_OK) {
    fprintf(stderr, "%s: %s\n", o->cmd, cs_store_errmsg(o->store));
    return 1;
  }
  cs_work_session ws = {.targets = targets,
                        .ntargets = o->ncollectors,
                        .o = {.tls = o->cfg.tls, .probe_set = ps},
                        .list = o->work,
                        .probe_cc = o->cfg.probe_cc,
                        .probe_asn = o->cfg.probe_asn};
  /* measurements of a chunk are uploaded once it is done (the uploader started held): a
   * chunk abandoned half-way and measured again by another probe is not counted twice */
  size_t chunks = 0, measured = 0;
  int rc = 0;
  for (unsigned fails = 0;;) {
    cs_arena *a = cs_arena_new(0);
    cs_work_claim cl;
    if (!a) return 1;
    if (cs_work_claim_next(&ws, a, &cl, err, sizeof err) < 0) {
      cs_arena_free(a);
      if (++fails > 5) {
        fprintf(stderr, "%s: --work %s: %s\n", o->cmd, o->work, err);
        rc = 1;
        break;
      }
      sleep_s(cs_upload_backoff(1, 30, fails, 0.5));
      continue;
    }
    fails = 0;
    if (!cl.lease_id) {
      cs_arena_free(a);
      if (cl.done) break;
      sleep_s(cl.retry_after); /* others hold the rest: their leases end or expire */
      continue;
    }
    cs_inputs_free(&o->inputs);
    for (size_t i = 0; i < cl.ninputs; i++)
      if (cs_inputs_add(&o->inputs, cl.inputs[i], cl.categories[i], i + 1) < 0) rc = 1;
    if (rc) {
      cs_arena_free(a);
      fprintf(stderr, "%s: out of memory\n", o->cmd);
      break;
    }
    if (!o->quiet)
      fprintf(stderr, "%s: --work %s: chunk %lld (%zu inputs, lease %s)\n", o->cmd, o->work,
              (long long)cl.chunk, cl.ninputs, cl.lease_id);
    cs_work_hb *hb = cs_work_hb_start(&ws, cl.lease_id, cl.lease_seconds / 3);
    size_t before = r->measured;
    r->inputs = &o->inputs;
    rc = cs_run_run(r);
    bool lost = cs_work_hb_stop(hb);
    measured += r->measured - before;
    if (rc) {
      cs_arena_free(a);
      break; /* not done: the lease expires and the chunk goes to another probe */
    }
    int d = cs_work_mark_done(&ws, cl.lease_id, err, sizeof err);
    if (d != 0 || lost)
      fprintf(stderr, "%s: --work %s: chunk %lld: %s\n", o->cmd, o->work, (long long)cl.chunk,
              d < 0 ? err : "lease lost (it expired and another probe took the chunk)");
    chunks++;
    cs_upload_bg_limit(o->upload, cs_store_last_id(o->store));
    cs_arena_free(a);
  }
  if (!o->quiet)
    fprintf(stderr, "%s: --work %s: %zu chunk(s), %zu measurement(s)%s\n", o->cmd, o->work, chunks,
            measured, rc ? "" : "; the list is done for this network");
  return rc;
}

int cs_probe_opts_run(cs_probe_opts *o, cs_run *r) {
  return o->work ? work_run(o, r) : cs_run_run(r);
}

void cs_probe_opts_stored(cs_probe_opts *o) {
  if (o->upload) cs_upload_bg_kick(o->upload);
}

void cs_probe_opts_upload_end(cs_probe_opts *o) {
  if (!o->upload) return;
  cs_upload_stats st;
  cs_upload_bg_stop(o->upload, o->upload_wait, &st);
  o->upload = NULL;
  cs_store_upload_tally t = {0};
  int rc = cs_store_upload_counts(o->store, o->run_id, &t);
  if (o->quiet && !t.pending) return;
  if (rc != CS_STORE_OK)
    fprintf(stderr, "%s: upload: %zu sent, %zu refused (queue unreadable: %s)\n", o->cmd, st.sent,
            st.refused, cs_store_errmsg(o->store));
  else
    fprintf(stderr, "%s: upload: %lld sent, %lld refused, %lld pending%s\n", o->cmd,
            (long long)t.sent, (long long)t.refused, (long long)t.pending,
            t.pending ? " (`censorscope upload` sends them later)" : "");
}

void cs_probe_opts_run_end(cs_probe_opts *o) {
  if (o->store && o->run_id > 0) cs_store_run_end(o->store, o->run_id);
}

void cs_probe_opts_free(cs_probe_opts *o) {
  if (o->upload) cs_upload_bg_stop(o->upload, 0, NULL); /* a run that failed: no drain */
  o->upload = NULL;
  cs_store_close(o->store);
  o->store = NULL;
  cs_tls_ctx_free(o->cfg.tls);
  o->cfg.tls = NULL;
  if (o->out && o->out != stdout) fclose(o->out);
  o->out = stdout;
  cs_inputs_free(&o->inputs);
}
