// ops_util.c: see ops_util.h.
#include "ops_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <regex.h>

#include "harness.h"

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	FILE *f = arg;
	return (fwrite(p, size, n, f));
}

long
ot_http(const char *method, const char *url, const char *ca_file, char **body,
    char **ctype)
{
	CURL  *c   = curl_easy_init();
	char  *buf = NULL, *ct = NULL;
	size_t len    = 0;
	FILE  *mem    = open_memstream(&buf, &len);
	long   status = 0;

	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	}
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		if (ctype != NULL) {
			*ctype = strdup(ct != NULL ? ct : "");
		}
	} else if (ctype != NULL) {
		*ctype = NULL;
	}
	curl_easy_cleanup(c);
	fclose(mem);
	if (body != NULL) {
		*body = buf;
	} else {
		free(buf);
	}
	return (status);
}

char *
ot_get(const char *url)
{
	char *body = NULL;
	long  st   = ot_http("GET", url, NULL, &body, NULL);
	if (st != 200) {
		fprintf(
		    stderr, "GET %s: %ld\n%s\n", url, st, body ? body : "");
	}
	assert_int_equal(st, 200);
	return (body);
}

double
ot_metric(const char *text, const char *series)
{
	size_t      n = strlen(series);
	const char *p = text;
	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			return (strtod(p + n + 1, NULL));
		}
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	return (-1);
}

void
ot_check_exposition(const char *text)
{
	regex_t help, type, sample;
	char    family[200] = "", ftype[32] = "";
	char    last_series[1024] = "";
	double  last_bucket       = -1;
	char   *copy = strdup(text), *line, *rest = copy;

	assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$",
	                     REG_EXTENDED | REG_NOSUB),
	    0);
	assert_int_equal(regcomp(&type,
	                     "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
	                     "(counter|gauge|histogram|summary|untyped)$",
	                     REG_EXTENDED),
	    0);
	assert_int_equal(
	    regcomp(&sample,
	        "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\""
	        "([^\"\\\\]|\\\\.)*\",?)*\\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$",
	        REG_EXTENDED),
	    0);
	while ((line = strsep(&rest, "\n")) != NULL) {
		regmatch_t m[7];
		if (*line == '\0') {
			continue;
		}
		if (regexec(&help, line, 0, NULL, 0) == 0) {
			continue;
		}
		if (regexec(&type, line, 3, m, 0) == 0) {
			snprintf(family, sizeof(family), "%.*s",
			    (int) (m[1].rm_eo - m[1].rm_so),
			    line + m[1].rm_so);
			snprintf(ftype, sizeof(ftype), "%.*s",
			    (int) (m[2].rm_eo - m[2].rm_so),
			    line + m[2].rm_so);
			continue;
		}
		if (regexec(&sample, line, 7, m, 0) != 0) {
			fail_msg("not a Prometheus text line: %s", line);
		}
		char name[200];
		snprintf(name, sizeof(name), "%.*s",
		    (int) (m[1].rm_eo - m[1].rm_so), line);
		size_t fl = strlen(family);
		if (strncmp(name, family, fl) != 0
		    || (name[fl] != '\0' && strcmp(ftype, "histogram") != 0)) {
			fail_msg(
			    "sample %s outside its family (%s)", name, family);
		}
		if (strcmp(ftype, "histogram") != 0) {
			continue;
		}
		// Buckets of one series are cumulative and end at +Inf,
		// which equals _count.
		double v = strtod(strrchr(line, ' ') + 1, NULL);
		if (strcmp(name + fl, "_bucket") == 0) {
			const char *le = strstr(line, "le=\"");
			assert_non_null(le);
			char series[1024];
			snprintf(series, sizeof(series), "%.*s",
			    (int) (le - line), line);
			if (strcmp(series, last_series) == 0) {
				assert_true(v >= last_bucket);
			}
			snprintf(
			    last_series, sizeof(last_series), "%s", series);
			last_bucket = v;
			if (strncmp(le, "le=\"+Inf\"", 9) == 0) {
				last_bucket = v;
			}
		} else if (strcmp(name + fl, "_count") == 0) {
			assert_true(v == last_bucket);
			last_series[0] = '\0';
		}
	}
	regfree(&help);
	regfree(&type);
	regfree(&sample);
	free(copy);
}

bool
ot_have(const char *prog)
{
	return (
	    th_runf(NULL, NULL, "command -v %s >/dev/null 2>&1", prog) == 0);
}
