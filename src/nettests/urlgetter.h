/* urlgetter.h - the urlgetter nettest (OONI ts-027 style): for one URL, resolve the host,
 * connect to every address (TCP, plus TLS for https), GET over the first working connection,
 * follow redirects (at most 10), and record every step as an OONI measurement. */
#ifndef CS_URLGETTER_H
#define CS_URLGETTER_H

#include "nettests/probe.h"

#define CS_URLGETTER_VERSION "0.2.0"

/* Starts measuring url on loop l; done(arg, json, len) is called once, from the loop, with the
 * serialised measurement. cfg must outlive the measurement. Returns -1 when out of memory
 * (done is not called). */
int cs_urlgetter_start(cs_loop *l, const cs_probe_cfg *cfg, const char *url, cs_meas_cb done,
                       void *arg);

#endif
