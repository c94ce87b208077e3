// clock.c: time helpers.
#include "clock.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
sf_clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t
sf_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t
sf_clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static void
format(int64_t ms, char *buf, size_t cap, int with_ms)
{
	time_t    secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int       frac = (int) (ms - (int64_t) secs * 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	if (with_ms) {
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, frac);
	} else {
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	}
}

void
sf_clock_format_rfc3339(int64_t ms, char *buf, size_t cap)
{
	format(ms, buf, cap, 0);
}

void
sf_clock_format_rfc3339_ms(int64_t ms, char *buf, size_t cap)
{
	format(ms, buf, cap, 1);
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char) (*p)[i])) {
			return (-1);
		}
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return (0);
}

int
sf_clock_parse_rfc3339(const char *s, int64_t *ms)
{
	struct tm   tm = {0};
	int         y, mo, d, h, mi, sec, frac = 0;
	const char *p = s;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo)
	    || *p++ != '-' || digits(&p, 2, &d) || (*p != 'T' && *p != 't')
	    || (++p, digits(&p, 2, &h)) || *p++ != ':' || digits(&p, 2, &mi)
	    || *p++ != ':' || digits(&p, 2, &sec)) {
		return (-1);
	}
	if (*p == '.') {
		int scale = 100;
		p++;
		if (!isdigit((unsigned char) *p)) {
			return (-1);
		}
		while (isdigit((unsigned char) *p)) {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = (*p == '-') ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om)) {
			return (-1);
		}
		off = sign * (oh * 60 + om);
	} else {
		return (-1);
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23
	    || mi > 59 || sec > 60) {
		return (-1);
	}
	tm.tm_year = y - 1900;
	tm.tm_mon  = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min  = mi;
	tm.tm_sec  = sec;
	time_t t   = timegm(&tm);
	*ms        = ((int64_t) t - (int64_t) off * 60) * 1000 + frac;
	return (0);
}

int
sf_duration_parse(const char *s, int64_t *ms)
{
	double total = 0;
	int    any   = 0;

	if (s == NULL || *s == '\0') {
		return (-1);
	}
	while (*s != '\0') {
		char  *end;
		double v;

		if (!isdigit((unsigned char) *s) && *s != '.') {
			return (-1);
		}
		errno = 0;
		v     = strtod(s, &end);
		if (end == s || errno != 0 || v < 0) {
			return (-1);
		}
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			total += v;
			s += 2;
		} else if (*s == 's') {
			total += v * 1000;
			s++;
		} else if (*s == 'm') {
			total += v * 60000;
			s++;
		} else if (*s == 'h') {
			total += v * 3600000;
			s++;
		} else if (*s == 'd') {
			total += v * 86400000;
			s++;
		} else if (*s == '\0' && !any) {
			total += v * 1000; // bare number: seconds
		} else {
			return (-1);
		}
		any = 1;
	}
	if (!isfinite(total) || total > 9.2e18) {
		return (-1);
	}
	*ms = (int64_t) total;
	return (0);
}

void
sf_duration_age(int64_t ms, char *buf, size_t cap)
{
	int64_t s = ms / 1000;

	if (s < 0) {
		s = 0;
	}
	// The same thresholds as k8s.io/apimachinery duration.HumanDuration.
	if (s < 120) {
		snprintf(buf, cap, "%llds", (long long) s);
	} else if (s < 600) {
		int64_t m = s / 60, r = s % 60;
		if (r == 0) {
			snprintf(buf, cap, "%lldm", (long long) m);
		} else {
			snprintf(buf, cap, "%lldm%llds", (long long) m,
			    (long long) r);
		}
	} else if (s < 3 * 3600) {
		snprintf(buf, cap, "%lldm", (long long) (s / 60));
	} else if (s < 8 * 3600) {
		int64_t h = s / 3600, m = (s % 3600) / 60;
		if (m == 0) {
			snprintf(buf, cap, "%lldh", (long long) h);
		} else {
			snprintf(buf, cap, "%lldh%lldm", (long long) h,
			    (long long) m);
		}
	} else if (s < 48 * 3600) {
		snprintf(buf, cap, "%lldh", (long long) (s / 3600));
	} else if (s < 8 * 86400) {
		int64_t d = s / 86400, h = (s % 86400) / 3600;
		if (h == 0) {
			snprintf(buf, cap, "%lldd", (long long) d);
		} else {
			snprintf(buf, cap, "%lldd%lldh", (long long) d,
			    (long long) h);
		}
	} else if (s < 2 * 365 * 86400) {
		snprintf(buf, cap, "%lldd", (long long) (s / 86400));
	} else {
		snprintf(buf, cap, "%lldy", (long long) (s / (365 * 86400)));
	}
}
