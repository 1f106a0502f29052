/* tally.c - see tally.h */
#include "run/tally.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cs_tally_init(cs_tally *t, const cs_nettest *nt) {
  memset(t, 0, sizeof *t);
  t->nt = nt;
}

static size_t nouts(const cs_tally *t) {
  return t->nt->noutcomes < CS_TALLY_MAX ? t->nt->noutcomes : CS_TALLY_MAX;
}

void cs_tally_add(cs_tally *t, const cs_outcome *o) {
  t->n++;
  const cs_outcome_def *d = o ? cs_outcome_def_find(t->nt->outcomes, nouts(t), o->key) : NULL;
  if (d) t->count[d - t->nt->outcomes]++;
  else t->unknown++;
}

size_t cs_tally_blocked(const cs_tally *t) {
  size_t b = 0;
  for (size_t i = 0; i < nouts(t); i++)
    if (t->nt->outcomes[i].censorship) b += t->count[i];
  return b;
}

/* The core keys have their own place in the line. */
static bool core(const char *key) {
  return !strcmp(key, CS_OUTCOME_ACCESSIBLE) || !strcmp(key, CS_OUTCOME_SITE_DOWN) ||
         !strcmp(key, CS_OUTCOME_UNDETERMINED);
}

typedef struct {
  char *p;
  size_t cap, len;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...) {
  if (o->len >= o->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
  va_end(ap);
  if (k > 0) o->len += (size_t)k;
}

const char *cs_tally_line(const cs_tally *t, char *buf, size_t cap) {
  const cs_nettest *nt = t->nt;
  size_t acc = 0, down = 0, undet = t->unknown, blocked = 0, other = 0;
  bool has_blocked = false, has_other = false, has_down = false, has_undet = false;
  for (size_t i = 0; i < nouts(t); i++) {
    const cs_outcome_def *d = &nt->outcomes[i];
    if (!strcmp(d->key, CS_OUTCOME_ACCESSIBLE)) acc += t->count[i];
    else if (!strcmp(d->key, CS_OUTCOME_SITE_DOWN)) down += t->count[i], has_down = true;
    else if (!strcmp(d->key, CS_OUTCOME_UNDETERMINED)) undet += t->count[i], has_undet = true;
    else if (d->censorship) blocked += t->count[i], has_blocked = true;
    else other += t->count[i], has_other = true;
  }
  out o = {buf, cap, 0};
  if (cap) buf[0] = 0;
  put(&o, "%s: %zu measured: %zu accessible", nt->name, t->n, acc);
  for (int pass = 0; pass < 2; pass++) {
    bool cens = pass == 0;
    if (cens ? !has_blocked : !has_other) continue;
    put(&o, ", %zu %s (", cens ? blocked : other, cens ? "blocked" : "not censorship");
    const char *sep = "";
    for (size_t i = 0; i < nouts(t); i++) {
      const cs_outcome_def *d = &nt->outcomes[i];
      if (d->censorship != cens || core(d->key)) continue;
      put(&o, "%s%s %zu", sep, d->key, t->count[i]);
      sep = ", ";
    }
    put(&o, ")");
  }
  if (has_down) put(&o, ", %zu down", down);
  if (has_undet || undet) put(&o, ", %zu undetermined", undet);
  return buf;
}
