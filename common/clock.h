// clock.h: wall and monotonic time, RFC 3339 stamps, durations and ages.
#ifndef SF_CLOCK_H
#define SF_CLOCK_H

#include <stddef.h>
#include <stdint.h>

// Milliseconds since the Unix epoch (wall clock, may jump).
int64_t sf_clock_now_ms(void);
// Milliseconds on a monotonic clock, for deadlines and intervals.
int64_t sf_clock_mono_ms(void);
// Microseconds on a monotonic clock, for latency measurements.
int64_t sf_clock_mono_us(void);

// "2026-11-26T03:12:18Z" (seconds) and "2026-11-26T03:12:18.123Z" (ms).
// Both write at most cap bytes, NUL included; cap >= 32 is always enough.
void sf_clock_format_rfc3339(int64_t ms, char *buf, size_t cap);
void sf_clock_format_rfc3339_ms(int64_t ms, char *buf, size_t cap);

// sf_clock_parse_rfc3339 accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)".
// Returns 0 and *ms, or -1.
int sf_clock_parse_rfc3339(const char *s, int64_t *ms);

// sf_duration_parse parses Go-style durations: "90s", "5m", "1h30m",
// "1.5h", "250ms", "2d" (days, a kubectl habit); a bare number is seconds.
// Returns 0 and *ms, or -1 for malformed or negative input.
int sf_duration_parse(const char *s, int64_t *ms);

// sf_duration_age formats an age the way kubectl's AGE column does:
// "45s", "5m12s", "3h", "4d", "2y". Negative ages print as "0s".
void sf_duration_age(int64_t ms, char *buf, size_t cap);

#endif // SF_CLOCK_H
