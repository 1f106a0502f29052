/* title.h - OONI's <title> rule, in one place for the probe-side analysis and the control
 * server (their two copies disagreed on stray UTF-8 bytes: aesthetics review F1).
 *
 * probe-cli (internal/measurexlite, internal/webconnectivitylte) extracts the title with the
 * Go regexp `(?i)<title>([^<]{1,512})</title>` over the body as a Go string: the repetition
 * counts runes as utf8.DecodeRune sees them, so every byte of an invalid sequence is one rune
 * (U+FFFD of width 1), and the capture is the raw bytes. Pure, no I/O, linear in the body. */
#ifndef CS_TITLE_H
#define CS_TITLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"

#define CS_TITLE_MAX 512 /* runes: the regexp's {1,512} */

/* The leftmost match. Returns true and points *out and *outlen into body (1..512 runes, no '<');
 * false when there is none (body may be NULL then). */
bool cs_title_find(const uint8_t *body, size_t n, const uint8_t **out, size_t *outlen);

/* The same title copied into the arena, NUL-terminated; "" when there is none or the arena
 * is full. */
const char *cs_title_dup(cs_arena *a, const uint8_t *body, size_t n);

#endif
