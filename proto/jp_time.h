/*
 * jp_time.h - ISO 8601 timestamps as the Jupyter messaging protocol writes them
 * (header.date, "2026-11-29T02:53:06.123456Z", UTC with microseconds), and parsing
 * of the forms clients send (with or without fraction, "Z" or "+hh:mm" offsets).
 */
#ifndef JP_TIME_H
#define JP_TIME_H

#include <stddef.h>
#include <stdint.h>

#define JP_TIME_LEN 32 /* buffer size that always fits jp_time_format's output */

/* Microseconds since the Unix epoch, from CLOCK_REALTIME. */
int64_t jp_time_now_us(void);
/* Monotonic milliseconds, for timeouts and measurements. */
int64_t jp_time_mono_ms(void);
/* Write `us` as "YYYY-MM-DDTHH:MM:SS.ffffffZ". out must hold JP_TIME_LEN bytes. 0 or JP_EINVAL. */
int jp_time_format(int64_t us, char *out, size_t outlen);
/* Parse an ISO 8601 date-time (fraction of 0-9 digits optional; "Z", "+hh:mm", "-hh:mm" or
 * "+hhmm" offset; no offset means UTC). 0 or JP_EINVAL; *us untouched on failure. */
int jp_time_parse(const char *s, int64_t *us);

#endif
