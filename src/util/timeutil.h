/* timeutil.h - clocks. Measurements use a monotonic clock relative to their start; wall-clock
 * time appears only in the envelope as UTC "YYYY-MM-DD hh:mm:ss". */
#ifndef CS_TIMEUTIL_H
#define CS_TIMEUTIL_H

#include <stddef.h>
#include <time.h>

double cs_mono_now(void); /* seconds, CLOCK_MONOTONIC */
/* Writes UTC "YYYY-MM-DD hh:mm:ss" (20 bytes incl. NUL). */
void cs_utc_format(time_t t, char out[20]);
/* Writes UTC "YYYYmmddTHHMMSSZ" (17 bytes incl. NUL). */
void cs_utc_compact(time_t t, char out[17]);

#endif
