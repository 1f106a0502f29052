/* urlgetter.h - the urlgetter nettest (OONI ts-027 style): for one URL, resolve the host,
 * connect to every address (TCP, plus TLS for https), GET over the first working connection,
 * follow redirects (at most 10), and record every step as an OONI measurement.
 *
 * Its outcome: it has no control, so it never claims censorship. "accessible" when the fetch
 * succeeded (evidence "HTTP <code>"), else "failed" with the failure string and the failed
 * operation as evidence ("connection_refused during connect"). */
#ifndef CS_URLGETTER_H
#define CS_URLGETTER_H

#include "nettests/nettest.h"

#define CS_URLGETTER_VERSION "0.2.0"
#define CS_URLGETTER_FAILED "failed" /* outcome key: the fetch failed (not judged) */

extern const cs_nettest cs_nettest_urlgetter;

/* Starts measuring url on loop l; done(arg, m) is called once, from the loop, with the
 * measurement and its outcome. cfg must outlive the measurement. Returns -1 when out of
 * memory (done is not called). */
int cs_urlgetter_start(cs_loop *l, const cs_probe_cfg *cfg, const char *url, cs_meas_done done,
                       void *arg);

#endif
