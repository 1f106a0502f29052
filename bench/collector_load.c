/* collector_load - load generator and baseline for bench/collector.sh (issue 13; not built by
 * `make`, not run in CI). Three modes:
 *
 *   ingest HOST:PORT TEMPLATES CLIENTS TOTAL
 *     CLIENTS threads, each with one keep-alive HTTP/1.1 connection to the collector, open one
 *     report per (country, network) with `POST /report` and submit measurements with
 *     `POST /report/{report_id}` ({"format":"json","content":{...}}), OONI's probe-services
 *     shapes, until TOTAL measurements are acknowledged. TEMPLATES holds real measurements, one
 *     per line, whose varying fields the bench script replaced by @TIME@ @INPUT@ @CC@ @ASN@
 *     @RID@ @SEQ@ (all inside JSON strings); each request gets a unique measurement (seq).
 *     Prints measurements/s over the whole run and the per-request latency p50/p95/max.
 *   copy CONNINFO TABLE TOTAL DAYS [END_EPOCH]
 *     The raw PostgreSQL baseline: TOTAL synthetic rows of the collector's `measurement` columns
 *     (10 countries, PK with 12 networks and a third of 2,400 domains blocked, a ninth of those
 *     only from two thirds of the range on, time-ordered over DAYS days ending at END_EPOCH) sent with libpq COPY FROM STDIN in 64 KiB chunks. Prints
 *     rows/s. TABLE must exist with those columns (its partitions too).
 *   latency HOST:PORT N PATH...
 *     Each PATH (a GET, e.g. an aggregation query) N times over one keep-alive connection after
 *     one warm-up; prints p50/p95/max per path and over all. A non-200 answer is an error.
 *
 * Every figure goes to stdout as `key value` lines the script reads. Bounded: fixed counts, 30-s
 * socket timeouts, responses capped at 64 MiB. Loopback or testbed addresses only (the script
 * passes 127.0.0.1). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESP (64u << 20)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a growable byte buffer ------------------------------------------------------------- */
typedef struct {
  char *p;
  size_t n, cap;
} buf;

static int buf_put(buf *b, const void *d, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->n + n + 1) c *= 2;
    char *q = realloc(b->p, c);
    if (!q) return -1;
    b->p = q;
    b->cap = c;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}
static int buf_str(buf *b, const char *s) { return buf_put(b, s, strlen(s)); }
static int buf_fmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_fmt(buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof tmp) return -1;
  return buf_put(b, tmp, (size_t)k);
}

/* ---- minimal HTTP/1.1 keep-alive client ------------------------------------------------- */
typedef struct {
  struct sockaddr_in sa;
  int fd;
  buf in; /* bytes read but not consumed */
} conn;

static int conn_open(conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->in.n = 0;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  struct timeval tv = {30, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&c->sa, sizeof c->sa) != 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

static int parse_hostport(const char *hp, struct sockaddr_in *sa) {
  char host[64];
  const char *colon = strrchr(hp, ':');
  if (!colon || (size_t)(colon - hp) >= sizeof host) return -1;
  memcpy(host, hp, (size_t)(colon - hp));
  host[colon - hp] = 0;
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || port == 0 || port > 65535) return -1;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int read_more(conn *c) {
  char tmp[65536];
  ssize_t k = recv(c->fd, tmp, sizeof tmp, 0);
  if (k <= 0) return -1;
  if (c->in.n + (size_t)k > MAX_RESP) return -1;
  return buf_put(&c->in, tmp, (size_t)k);
}

static void consume(conn *c, size_t n) {
  memmove(c->in.p, c->in.p + n, c->in.n - n);
  c->in.n -= n;
  c->in.p[c->in.n] = 0;
}

/* One request/response on the connection; body of the answer into *out. Returns the status,
 * -1 on a transport error (the caller reconnects). */
static int http_do(conn *c, const char *method, const char *path, const char *body, size_t blen,
                   buf *out) {
  buf rq = {0};
  int rc = -1;
  out->n = 0;
  if (buf_fmt(&rq, "%s %s HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n", method, path) ||
      (body && buf_fmt(&rq, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen)) ||
      buf_str(&rq, "\r\n") || (body && buf_put(&rq, body, blen)))
    goto done;
  for (size_t off = 0; off < rq.n;) {
    ssize_t k = send(c->fd, rq.p + off, rq.n - off, MSG_NOSIGNAL);
    if (k <= 0) goto done;
    off += (size_t)k;
  }
  char *eoh;
  while (!c->in.p || !(eoh = strstr(c->in.p, "\r\n\r\n")))
    if (read_more(c)) goto done;
  size_t hlen = (size_t)(eoh - c->in.p) + 4;
  int status = 0;
  if (sscanf(c->in.p, "HTTP/1.%*d %d", &status) != 1) goto done;
  long long clen = -1;
  bool chunked = false, close_after = false;
  for (char *l = strstr(c->in.p, "\r\n"); l && l < eoh; l = strstr(l + 2, "\r\n")) {
    const char *h = l + 2;
    if (!strncasecmp(h, "Content-Length:", 15)) clen = strtoll(h + 15, NULL, 10);
    if (!strncasecmp(h, "Transfer-Encoding:", 18) && strstr(h, "chunked") &&
        strstr(h, "chunked") < strstr(h, "\r\n"))
      chunked = true;
    if (!strncasecmp(h, "Connection:", 11) &&
        !strncasecmp(h + 11 + strspn(h + 11, " "), "close", 5))
      close_after = true;
  }
  consume(c, hlen);
  if (chunked) {
    for (;;) {
      char *eol;
      while (!(eol = strstr(c->in.p ? c->in.p : "", "\r\n")))
        if (read_more(c)) goto done;
      unsigned long sz = strtoul(c->in.p, NULL, 16);
      size_t skip = (size_t)(eol - c->in.p) + 2;
      if (sz > MAX_RESP) goto done;
      while (c->in.n < skip + sz + 2)
        if (read_more(c)) goto done;
      if (buf_put(out, c->in.p + skip, sz)) goto done;
      consume(c, skip + sz + 2);
      if (sz == 0) break;
    }
  } else if (clen >= 0) {
    if (clen > (long long)MAX_RESP) goto done;
    while (c->in.n < (size_t)clen)
      if (read_more(c)) goto done;
    if (buf_put(out, c->in.p ? c->in.p : "", (size_t)clen)) goto done;
    consume(c, (size_t)clen);
  } else {
    while (read_more(c) == 0) {
    }
    if (buf_put(out, c->in.p ? c->in.p : "", c->in.n)) goto done;
    c->in.n = 0;
    close_after = true;
  }
  if (!out->p && buf_put(out, "", 0)) goto done;
  rc = status;
  if (close_after) conn_open(c);
done:
  free(rq.p);
  return rc;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double pct(const double *v, size_t n, double p) {
  if (!n) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

/* ---- ingest ----------------------------------------------------------------------------- */
static const char *const CCS[] = {"PK", "IR", "RU", "TR", "EG", "IN", "BD", "MM", "VN", "CN"};
#define NCC (sizeof CCS / sizeof CCS[0])
static const char *const DOMAINS[] = {
    "www.dawn.com",     "www.geo.tv",         "twitter.com",       "www.youtube.com",
    "www.facebook.com", "www.bbc.com",        "www.hrw.org",       "www.amnesty.org",
    "signal.org",       "www.torproject.org", "www.wikipedia.org", "www.reddit.com",
    "www.tiktok.com",   "www.instagram.com",  "www.rferl.org",     "www.voanews.com"};
#define NDOM (sizeof DOMAINS / sizeof DOMAINS[0])

typedef struct {
  char **tpl;
  size_t ntpl;
  struct sockaddr_in sa;
  unsigned long long total;
  unsigned long long next; /* shared counter, under mu */
  pthread_mutex_t mu;
  time_t t0;
} ingest_shared;

typedef struct {
  ingest_shared *sh;
  unsigned id;
  unsigned long long ok, err;
  double *lat;
  size_t nlat, cap;
  char first_err[256];
} ingest_worker;

/* Replaces every @KEY@ of tpl; values are plain ASCII without quotes or backslashes. */
static int fill(buf *out, const char *tpl, const char *const *keys, const char *const *vals,
                size_t nk) {
  out->n = 0;
  for (const char *p = tpl; *p;) {
    const char *at = strchr(p, '@');
    if (!at) return buf_str(out, p);
    if (buf_put(out, p, (size_t)(at - p))) return -1;
    size_t k;
    for (k = 0; k < nk; k++) {
      size_t kl = strlen(keys[k]);
      if (!strncmp(at, keys[k], kl)) break;
    }
    if (k == nk) {
      if (buf_put(out, "@", 1)) return -1;
      p = at + 1;
    } else {
      if (buf_str(out, vals[k])) return -1;
      p = at + strlen(keys[k]);
    }
  }
  return 0;
}

static int json_str_field(const char *j, const char *key, char *out, size_t cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(j, pat);
  if (!p) return -1;
  p = strchr(p + strlen(pat), '"');
  if (!p) return -1;
  const char *e = strchr(++p, '"');
  if (!e || (size_t)(e - p) >= cap) return -1;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = 0;
  return 0;
}

static void *ingest_run(void *arg) {
  ingest_worker *w = arg;
  ingest_shared *sh = w->sh;
  conn c = {.sa = sh->sa, .fd = -1};
  buf body = {0}, resp = {0}, content = {0};
  /* each worker is one probe on one network: CC and ASN from its id */
  const char *cc = CCS[w->id % NCC];
  char asn[16], rid[160] = "";
  snprintf(asn, sizeof asn, "AS%u", 64500 + w->id);
  if (conn_open(&c)) {
    snprintf(w->first_err, sizeof w->first_err, "connect: %s", strerror(errno));
    goto out;
  }
  for (;;) {
    unsigned long long seq;
    pthread_mutex_lock(&sh->mu);
    seq = sh->next < sh->total ? sh->next++ : ULLONG_MAX;
    pthread_mutex_unlock(&sh->mu);
    if (seq == ULLONG_MAX) break;
    double t = now_s();
    int st;
    if (!rid[0]) {
      char ts[32];
      struct tm tm;
      gmtime_r(&sh->t0, &tm);
      strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
      body.n = 0;
      buf_fmt(&body,
              "{\"data_format_version\":\"0.2.0\",\"format\":\"json\",\"probe_asn\":\"%s\","
              "\"probe_cc\":\"%s\",\"software_name\":\"censorscope\",\"software_version\":"
              "\"0.1.0\",\"test_name\":\"web_connectivity\",\"test_start_time\":\"%s\","
              "\"test_version\":\"0.5.28\"}",
              asn, cc, ts);
      st = http_do(&c, "POST", "/report", body.p, body.n, &resp);
      if (st != 200 || json_str_field(resp.p, "report_id", rid, sizeof rid)) {
        w->err++;
        if (!w->first_err[0])
          snprintf(w->first_err, sizeof w->first_err, "POST /report: %d %.200s", st,
                   resp.p ? resp.p : "");
        if (st < 0) conn_open(&c);
        rid[0] = 0;
        continue;
      }
    }
    /* measurement time: within the last 23 hours, increasing with seq */
    time_t mt = sh->t0 - 23 * 3600 + (time_t)((seq * 82800ull) / (sh->total ? sh->total : 1));
    struct tm tm;
    char ts[32], input[128], seqs[32];
    gmtime_r(&mt, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(input, sizeof input, "https://%s/", DOMAINS[seq % NDOM]);
    snprintf(seqs, sizeof seqs, "%llu-%u", seq, w->id);
    const char *keys[] = {"@TIME@", "@INPUT@", "@CC@", "@ASN@", "@RID@", "@SEQ@"};
    const char *vals[] = {ts, input, cc, asn, rid, seqs};
    if (fill(&content, sh->tpl[seq % sh->ntpl], keys, vals, 6)) break;
    body.n = 0;
    buf_str(&body, "{\"format\":\"json\",\"content\":");
    buf_put(&body, content.p, content.n);
    buf_str(&body, "}");
    char path[200];
    snprintf(path, sizeof path, "/report/%s", rid);
    st = http_do(&c, "POST", path, body.p, body.n, &resp);
    double dt = now_s() - t;
    if (st == 200 && strstr(resp.p, "\"measurement_uid\"")) {
      w->ok++;
      if (w->nlat == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 1024;
        double *q = realloc(w->lat, nc * sizeof *q);
        if (!q) break;
        w->lat = q;
        w->cap = nc;
      }
      w->lat[w->nlat++] = dt;
    } else {
      w->err++;
      if (!w->first_err[0])
        snprintf(w->first_err, sizeof w->first_err, "POST /report/{id}: %d %.200s", st,
                 resp.p ? resp.p : "");
      if (st < 0) conn_open(&c);
    }
  }
out:
  if (c.fd >= 0) close(c.fd);
  free(c.in.p);
  free(body.p);
  free(resp.p);
  free(content.p);
  return NULL;
}

static int cmd_ingest(int argc, char **argv) {
  if (argc != 4) return 2;
  ingest_shared sh = {.mu = PTHREAD_MUTEX_INITIALIZER, .t0 = time(NULL)};
  if (parse_hostport(argv[0], &sh.sa)) return fprintf(stderr, "bad HOST:PORT\n"), 2;
  FILE *f = fopen(argv[1], "r");
  if (!f) return perror(argv[1]), 1;
  char *line = NULL;
  size_t cap = 0;
  ssize_t k;
  while ((k = getline(&line, &cap, f)) > 0 && sh.ntpl < 64) {
    while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = 0;
    if (!k) continue;
    char **q = realloc(sh.tpl, (sh.ntpl + 1) * sizeof *q);
    if (!q) return 1;
    sh.tpl = q;
    sh.tpl[sh.ntpl++] = strdup(line);
  }
  free(line);
  fclose(f);
  if (!sh.ntpl) return fprintf(stderr, "no templates\n"), 1;
  unsigned long nw = strtoul(argv[2], NULL, 10);
  sh.total = strtoull(argv[3], NULL, 10);
  if (nw < 1 || nw > 256 || !sh.total) return 2;
  ingest_worker *w = calloc(nw, sizeof *w);
  pthread_t *th = calloc(nw, sizeof *th);
  if (!w || !th) return 1;
  double t0 = now_s();
  for (unsigned long i = 0; i < nw; i++) {
    w[i].sh = &sh;
    w[i].id = (unsigned)i;
    pthread_create(&th[i], NULL, ingest_run, &w[i]);
  }
  unsigned long long ok = 0, err = 0;
  size_t nl = 0;
  for (unsigned long i = 0; i < nw; i++) {
    pthread_join(th[i], NULL);
    ok += w[i].ok;
    err += w[i].err;
    nl += w[i].nlat;
  }
  double el = now_s() - t0;
  double *all = malloc((nl ? nl : 1) * sizeof *all);
  if (!all) return 1;
  size_t j = 0;
  for (unsigned long i = 0; i < nw; i++) {
    if (w[i].first_err[0]) fprintf(stderr, "client %lu: first error: %s\n", i, w[i].first_err);
    memcpy(all + j, w[i].lat, w[i].nlat * sizeof *all);
    j += w[i].nlat;
    free(w[i].lat);
  }
  qsort(all, nl, sizeof *all, cmp_d);
  printf("ingest_ok %llu\ningest_errors %llu\ningest_seconds %.3f\ningest_rate %.0f\n", ok, err, el,
         (double)ok / el);
  printf("ingest_p50_ms %.2f\ningest_p95_ms %.2f\ningest_max_ms %.2f\n", pct(all, nl, .5) * 1e3,
         pct(all, nl, .95) * 1e3, nl ? all[nl - 1] * 1e3 : 0);
  free(all);
  free(w);
  free(th);
  for (size_t i = 0; i < sh.ntpl; i++) free(sh.tpl[i]);
  free(sh.tpl);
  return err ? 1 : 0;
}

/* ---- copy: the raw PostgreSQL baseline -------------------------------------------------- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* splitmix64: reproducible data */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static const char *const METHODS[] = {"dns", "tcp_ip", "tls", "blockpage", "http_failure"};
static const char *const CATS[] = {"NEWS", "HUMR", "POLR", "SRCH", "GRP", "COMT", "MMED", "LGBT"};

static int cmd_copy(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *table = argv[1];
  unsigned long long total = strtoull(argv[2], NULL, 10);
  unsigned long days = strtoul(argv[3], NULL, 10);
  time_t end = argc > 4 ? (time_t)strtoll(argv[4], NULL, 10) : time(NULL);
  if (!total || !days || days > 400) return 2;
  for (const char *p = table; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9'))) return 2;
  PGconn *pg = PQconnectdb(argv[0]);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "connect: %s", PQerrorMessage(pg));
    PQfinish(pg);
    return 1;
  }
  PQclear(PQexec(pg, "SET synchronous_commit = off"));
  char sql[1024];
  snprintf(sql, sizeof sql,
           "COPY %s (measurement_uid, measurement_start_time, report_id, dedup_key, test_name, "
           "test_version, software_name, software_version, probe_cc, probe_asn, "
           "probe_network_name, resolver_asn, input, domain, category_code, anomaly, confirmed, "
           "msm_failure, blocking_type, outcome, evidence, test_runtime, can_path, can_offset, "
           "can_len) FROM STDIN",
           table);
  double t0 = now_s();
  PGresult *r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    fprintf(stderr, "COPY: %s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    return 1;
  }
  PQclear(r);
  buf b = {0};
  time_t start = end - (time_t)days * 86400;
  time_t onset = start + (time_t)days * 86400 * 2 / 3;
  int rc = 0;
  for (unsigned long long i = 0; i < total && !rc; i++) {
    time_t t = start + (time_t)((i * (unsigned long long)days * 86400ull) / total);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[40], day[16];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S+00", &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    uint64_t x = rnd();
    /* PK: 6 of 15 rows and 12 networks; 9 more countries with 4 networks each */
    unsigned ci = (x % 15) < 6 ? 0 : 1 + (unsigned)((x >> 8) % 9);
    unsigned asn = ci == 0 ? 64500u + (unsigned)((x >> 16) % 12)
                           : 65000u + ci * 10 + (unsigned)((x >> 16) % 4);
    unsigned dom = (unsigned)((x >> 24) % 2400);
    /* a ninth of the blocked domains (dom % 27 == 0) only from two thirds of the range on,
     * on every PK network at once: the onsets the detector alerts on (per network, and
     * country-wide events) */
    bool blocked = ci == 0 && dom % 3 == 0 && (dom % 27 != 0 || t >= onset);
    bool fail = ((x >> 40) % 50) == 0;
    bool anomaly = blocked && !fail && ((x >> 48) % 10) < 9;
    bool confirmed = anomaly && dom % 9 == 0;
    const char *method = anomaly ? METHODS[(dom / 3 + asn) % 5] : NULL;
    char line[1024];
    int k = snprintf(
        line, sizeof line,
        "%s%06llu_%s_webconnectivity_%016" PRIx64 "\t%s\t%sT000000Z_webconnectivity_%s_%u_n1_"
        "bench%011llu\t\\\\x%016" PRIx64 "%016" PRIx64
        "\tweb_connectivity\t0.5.28\tcensorscope\t0.1.0\t%s\t%u\t"
        "bench network %u\t%u\thttps://www.site%04u.example/\twww.site%04u.example\t%s\t%s\t%s\t%s\t%s\t%s\t"
        "%s\t%.3f\tcans/%s/00.jsonl\t%llu\t4096\n",
        day, i % 1000000, CCS[ci], x, ts, day, CCS[ci], asn, i, x, rnd(), CCS[ci], asn, asn, asn,
        dom, dom, CATS[dom % 8], anomaly ? "t" : "f", confirmed ? "t" : "f", fail ? "t" : "f",
        method ? method : "\\N",
        fail      ? "undetermined"
        : anomaly ? method
                  : "ok",
        anomaly ? "bench evidence" : "\\N", 0.5 + (double)((x >> 32) % 5000) / 1000.0, day,
        (i % 100000) * 4096);
    if (k < 0 || (size_t)k >= sizeof line) {
      rc = 1;
      break;
    }
    if (buf_put(&b, line, (size_t)k)) rc = 1;
    if (b.n >= 65536) {
      if (PQputCopyData(pg, b.p, (int)b.n) != 1) rc = 1;
      b.n = 0;
    }
  }
  if (!rc && b.n && PQputCopyData(pg, b.p, (int)b.n) != 1) rc = 1;
  free(b.p);
  if (PQputCopyEnd(pg, rc ? "bench aborted" : NULL) != 1) rc = 1;
  while ((r = PQgetResult(pg))) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      fprintf(stderr, "COPY: %s", PQresultErrorMessage(r));
      rc = 1;
    }
    PQclear(r);
  }
  double el = now_s() - t0;
  PQfinish(pg);
  if (rc) return 1;
  printf("copy_rows %llu\ncopy_seconds %.3f\ncopy_rate %.0f\n", total, el, (double)total / el);
  return 0;
}

/* ---- latency ---------------------------------------------------------------------------- */
static int cmd_latency(int argc, char **argv) {
  if (argc < 3) return 2;
  conn c = {.fd = -1};
  if (parse_hostport(argv[0], &c.sa)) return 2;
  unsigned long n = strtoul(argv[1], NULL, 10);
  if (n < 1 || n > 100000) return 2;
  if (conn_open(&c)) return perror("connect"), 1;
  size_t np = (size_t)argc - 2, na = 0;
  double *all = calloc(np * n, sizeof *all), *v = calloc(n, sizeof *v);
  buf resp = {0};
  int rc = 0;
  if (!all || !v) return 1;
  for (size_t i = 0; i < np && !rc; i++) {
    const char *path = argv[2 + i];
    int st = http_do(&c, "GET", path, NULL, 0, &resp); /* warm-up (rollup refresh, caches) */
    if (st != 200) {
      fprintf(stderr, "GET %s: %d %.300s\n", path, st, resp.p ? resp.p : "");
      rc = 1;
      break;
    }
    size_t bytes = resp.n;
    for (unsigned long j = 0; j < n; j++) {
      double t = now_s();
      st = http_do(&c, "GET", path, NULL, 0, &resp);
      v[j] = now_s() - t;
      if (st != 200) {
        fprintf(stderr, "GET %s: %d\n", path, st);
        rc = 1;
        break;
      }
    }
    if (rc) break;
    memcpy(all + na, v, n * sizeof *v);
    na += n;
    qsort(v, n, sizeof *v, cmp_d);
    printf("query %zu p50_ms %.2f p95_ms %.2f max_ms %.2f bytes %zu %s\n", i + 1,
           pct(v, n, .5) * 1e3, pct(v, n, .95) * 1e3, v[n - 1] * 1e3, bytes, path);
  }
  if (!rc) {
    qsort(all, na, sizeof *all, cmp_d);
    printf("latency_p50_ms %.2f\nlatency_p95_ms %.2f\nlatency_max_ms %.2f\n",
           pct(all, na, .5) * 1e3, pct(all, na, .95) * 1e3, all[na - 1] * 1e3);
  }
  free(all);
  free(v);
  free(resp.p);
  free(c.in.p);
  if (c.fd >= 0) close(c.fd);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 2;
  if (argc >= 2 && !strcmp(argv[1], "ingest")) rc = cmd_ingest(argc - 2, argv + 2);
  else if (argc >= 2 && !strcmp(argv[1], "copy")) rc = cmd_copy(argc - 2, argv + 2);
  else if (argc >= 2 && !strcmp(argv[1], "latency")) rc = cmd_latency(argc - 2, argv + 2);
  if (rc == 2)
    fprintf(stderr, "usage: collector_load ingest HOST:PORT TEMPLATES CLIENTS TOTAL\n"
                    "       collector_load copy CONNINFO TABLE TOTAL DAYS [END_EPOCH]\n"
                    "       collector_load latency HOST:PORT N PATH...\n");
  return rc;
}
