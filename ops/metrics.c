// metrics.c: the metrics registry of ops.h.
#include "ops.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "str.h"

#define MAX_LABELS  8
#define MAX_BUCKETS 32

enum metric_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

const double sf_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const size_t sf_metrics_latency_nbuckets  = sizeof(sf_metrics_latency_buckets)
    / sizeof(sf_metrics_latency_buckets[0]);

// One labelled series. Series of a family are kept sorted by their label
// values, so rendering is stable and a lookup is a binary search.
typedef struct series {
	char    **s_values;  // m_nlabels strings
	double    s_value;   // counter/gauge value, histogram sum
	uint64_t  s_count;   // histogram: observations
	uint64_t *s_buckets; // histogram: per bucket (not cumulative)
} series;

struct sf_metric {
	sf_metric      *m_next;
	char           *m_name;
	char           *m_help;
	int             m_type;
	char           *m_labels[MAX_LABELS];
	size_t          m_nlabels;
	double          m_bounds[MAX_BUCKETS];
	size_t          m_nbounds;
	pthread_mutex_t m_mtx;
	series        **m_series;
	size_t          m_nseries;
	size_t          m_cap;
};

typedef struct collector {
	sf_metrics_collect_fn c_fn;
	void                 *c_arg;
	struct collector     *c_next;
} collector;

struct sf_metrics {
	pthread_mutex_t r_mtx; // the family list and collectors
	sf_metric      *r_first, *r_last;
	collector      *r_collectors;
	// One scrape at a time: collectors may keep state between runs.
	pthread_mutex_t r_scrape;
};

int
sf_metrics_alloc(sf_metrics **out)
{
	sf_metrics *r = calloc(1, sizeof(*r));
	*out          = NULL;
	if (r == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	pthread_mutex_init(&r->r_mtx, NULL);
	pthread_mutex_init(&r->r_scrape, NULL);
	*out = r;
	return (0);
}

static void
series_free(series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++) {
		free(s->s_values[i]);
	}
	free(s->s_values);
	free(s->s_buckets);
	free(s);
}

static void
metric_free(sf_metric *m)
{
	for (size_t i = 0; i < m->m_nseries; i++) {
		series_free(m->m_series[i], m->m_nlabels);
	}
	for (size_t i = 0; i < m->m_nlabels; i++) {
		free(m->m_labels[i]);
	}
	free(m->m_series);
	free(m->m_name);
	free(m->m_help);
	pthread_mutex_destroy(&m->m_mtx);
	free(m);
}

void
sf_metrics_free(sf_metrics *r)
{
	if (r == NULL) {
		return;
	}
	while (r->r_first != NULL) {
		sf_metric *m = r->r_first;
		r->r_first   = m->m_next;
		metric_free(m);
	}
	while (r->r_collectors != NULL) {
		collector *c    = r->r_collectors;
		r->r_collectors = c->c_next;
		free(c);
	}
	pthread_mutex_destroy(&r->r_mtx);
	pthread_mutex_destroy(&r->r_scrape);
	free(r);
}

static bool
valid_name(const char *s, bool colon)
{
	if (s == NULL || *s == '\0') {
		return (false);
	}
	for (const char *p = s; *p != '\0'; p++) {
		char c  = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		    || c == '_' || (colon && c == ':')
		    || (p != s && c >= '0' && c <= '9');
		if (!ok) {
			return (false);
		}
	}
	return (true);
}

// Splits "a,b" into m's label names. Returns false on a bad list.
static bool
parse_labels(sf_metric *m, const char *labels)
{
	const char *p = labels;
	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ",");
		char  *l;
		if (m->m_nlabels == MAX_LABELS
		    || (l = strndup(p, n)) == NULL) {
			return (false);
		}
		m->m_labels[m->m_nlabels++] = l;
		// "le" is the histogram's own; "__" names are reserved.
		if (!valid_name(l, false) || strncmp(l, "__", 2) == 0
		    || (m->m_type == M_HISTOGRAM && strcmp(l, "le") == 0)) {
			return (false);
		}
		p += n;
		if (*p == ',') {
			p++;
		}
	}
	return (true);
}

static bool
same_shape(const sf_metric *a, const sf_metric *b)
{
	if (a->m_type != b->m_type || a->m_nlabels != b->m_nlabels
	    || a->m_nbounds != b->m_nbounds) {
		return (false);
	}
	for (size_t i = 0; i < a->m_nlabels; i++) {
		if (strcmp(a->m_labels[i], b->m_labels[i]) != 0) {
			return (false);
		}
	}
	for (size_t i = 0; i < a->m_nbounds; i++) {
		if (a->m_bounds[i] != b->m_bounds[i]) {
			return (false);
		}
	}
	return (true);
}

static sf_metric *
metric_register(sf_metrics *r, int type, const char *name, const char *help,
    const char *labels, const double *bounds, size_t nbounds)
{
	sf_metric *m, *old;

	if (r == NULL || !valid_name(name, true) || nbounds > MAX_BUCKETS) {
		return (NULL);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		return (NULL);
	}
	pthread_mutex_init(&m->m_mtx, NULL);
	m->m_type = type;
	m->m_name = strdup(name);
	m->m_help = strdup(sf_nz(help));
	if (m->m_name == NULL || m->m_help == NULL
	    || !parse_labels(m, labels)) {
		metric_free(m);
		return (NULL);
	}
	for (size_t i = 0; i < nbounds; i++) {
		if (isnan(bounds[i])
		    || (i > 0 && bounds[i] <= bounds[i - 1])) {
			metric_free(m);
			return (NULL);
		}
		m->m_bounds[i] = bounds[i];
	}
	m->m_nbounds = nbounds;

	pthread_mutex_lock(&r->r_mtx);
	for (old = r->r_first; old != NULL; old = old->m_next) {
		if (strcmp(old->m_name, name) == 0) {
			break;
		}
	}
	if (old != NULL) {
		pthread_mutex_unlock(&r->r_mtx);
		bool same = same_shape(old, m);
		metric_free(m);
		return (same ? old : NULL);
	}
	if (r->r_last != NULL) {
		r->r_last->m_next = m;
	} else {
		r->r_first = m;
	}
	r->r_last = m;
	pthread_mutex_unlock(&r->r_mtx);
	return (m);
}

sf_metric *
sf_metrics_counter(
    sf_metrics *r, const char *name, const char *help, const char *labels)
{
	return (metric_register(r, M_COUNTER, name, help, labels, NULL, 0));
}

sf_metric *
sf_metrics_gauge(
    sf_metrics *r, const char *name, const char *help, const char *labels)
{
	return (metric_register(r, M_GAUGE, name, help, labels, NULL, 0));
}

sf_metric *
sf_metrics_histogram(sf_metrics *r, const char *name, const char *help,
    const char *labels, const double *buckets, size_t nbuckets)
{
	if (buckets == NULL || nbuckets == 0) {
		buckets  = sf_metrics_latency_buckets;
		nbuckets = sf_metrics_latency_nbuckets;
	}
	return (metric_register(
	    r, M_HISTOGRAM, name, help, labels, buckets, nbuckets));
}

// Orders series by their label values, label by label.
static int
values_cmp(const char *const *a, const char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = strcmp(
		    a[i] != NULL ? a[i] : "", b[i] != NULL ? b[i] : "");
		if (c != 0) {
			return (c);
		}
	}
	return (0);
}

// Finds the series of values (m_mtx held): its index, or -(insertion
// point) - 1 when absent.
static long
series_find(sf_metric *m, const char *const *values)
{
	size_t lo = 0, hi = m->m_nseries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int    c   = values_cmp(
		         (const char *const *) m->m_series[mid]->s_values, values,
		         m->m_nlabels);
		if (c == 0) {
			return ((long) mid);
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (-(long) lo - 1);
}

// Returns the series of values, made when absent (m_mtx held); NULL when
// out of memory.
static series *
series_get(sf_metric *m, const char *const *values)
{
	long    at = series_find(m, values);
	series *s;
	size_t  pos;

	if (at >= 0) {
		return (m->m_series[at]);
	}
	pos = (size_t) (-at - 1);
	if (m->m_nseries == m->m_cap) {
		size_t   cap = m->m_cap ? m->m_cap * 2 : 8;
		series **ns  = realloc(m->m_series, cap * sizeof(*ns));
		if (ns == NULL) {
			return (NULL);
		}
		m->m_series = ns;
		m->m_cap    = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return (NULL);
	}
	s->s_values = calloc(m->m_nlabels + 1, sizeof(char *));
	if (m->m_type == M_HISTOGRAM) {
		s->s_buckets = calloc(m->m_nbounds + 1, sizeof(uint64_t));
	}
	bool ok = s->s_values != NULL
	    && (m->m_type != M_HISTOGRAM || s->s_buckets != NULL);
	for (size_t i = 0; ok && i < m->m_nlabels; i++) {
		s->s_values[i] = strdup(values[i] != NULL ? values[i] : "");
		ok             = s->s_values[i] != NULL;
	}
	if (!ok) {
		series_free(s, s->s_values != NULL ? m->m_nlabels : 0);
		return (NULL);
	}
	memmove(&m->m_series[pos + 1], &m->m_series[pos],
	    (m->m_nseries - pos) * sizeof(series *));
	m->m_series[pos] = s;
	m->m_nseries++;
	return (s);
}

void
sf_metric_add(sf_metric *m, const char *const *values, double v)
{
	series *s;
	if (m == NULL || m->m_type == M_HISTOGRAM
	    || (m->m_type == M_COUNTER && !(v >= 0))) {
		return;
	}
	pthread_mutex_lock(&m->m_mtx);
	if ((s = series_get(m, values)) != NULL) {
		s->s_value += v;
	}
	pthread_mutex_unlock(&m->m_mtx);
}

void
sf_metric_set(sf_metric *m, const char *const *values, double v)
{
	series *s;
	if (m == NULL || m->m_type != M_GAUGE) {
		return;
	}
	pthread_mutex_lock(&m->m_mtx);
	if ((s = series_get(m, values)) != NULL) {
		s->s_value = v;
	}
	pthread_mutex_unlock(&m->m_mtx);
}

void
sf_metric_observe(sf_metric *m, const char *const *values, double v)
{
	series *s;
	size_t  b = 0;
	if (m == NULL || m->m_type != M_HISTOGRAM || isnan(v)) {
		return;
	}
	while (b < m->m_nbounds && v > m->m_bounds[b]) {
		b++;
	}
	pthread_mutex_lock(&m->m_mtx);
	if ((s = series_get(m, values)) != NULL) {
		s->s_value += v;
		s->s_count++;
		s->s_buckets[b]++;
	}
	pthread_mutex_unlock(&m->m_mtx);
}

void
sf_metric_remove(sf_metric *m, const char *const *values)
{
	long at;
	if (m == NULL) {
		return;
	}
	pthread_mutex_lock(&m->m_mtx);
	if ((at = series_find(m, values)) >= 0) {
		series_free(m->m_series[at], m->m_nlabels);
		memmove(&m->m_series[at], &m->m_series[at + 1],
		    (m->m_nseries - (size_t) at - 1) * sizeof(series *));
		m->m_nseries--;
	}
	pthread_mutex_unlock(&m->m_mtx);
}

void
sf_metric_clear(sf_metric *m)
{
	if (m == NULL) {
		return;
	}
	pthread_mutex_lock(&m->m_mtx);
	for (size_t i = 0; i < m->m_nseries; i++) {
		series_free(m->m_series[i], m->m_nlabels);
	}
	m->m_nseries = 0;
	pthread_mutex_unlock(&m->m_mtx);
}

double
sf_metric_value(sf_metric *m, const char *const *values)
{
	double v = 0;
	long   at;
	if (m == NULL) {
		return (0);
	}
	pthread_mutex_lock(&m->m_mtx);
	if ((at = series_find(m, values)) >= 0) {
		series *s = m->m_series[at];
		v         = m->m_type == M_HISTOGRAM ? (double) s->s_count
		                                     : s->s_value;
	}
	pthread_mutex_unlock(&m->m_mtx);
	return (v);
}

int
sf_metrics_add_collector(sf_metrics *r, sf_metrics_collect_fn fn, void *arg)
{
	collector *c = calloc(1, sizeof(*c)), **pp;
	if (c == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	c->c_fn  = fn;
	c->c_arg = arg;
	pthread_mutex_lock(&r->r_mtx);
	for (pp = &r->r_collectors; *pp != NULL; pp = &(*pp)->c_next) {
	}
	*pp = c;
	pthread_mutex_unlock(&r->r_mtx);
	return (0);
}

void
sf_metrics_remove_collector(sf_metrics *r, sf_metrics_collect_fn fn, void *arg)
{
	// Not while a scrape may be running it.
	pthread_mutex_lock(&r->r_scrape);
	pthread_mutex_lock(&r->r_mtx);
	for (collector **pp = &r->r_collectors; *pp != NULL;
	     pp             = &(*pp)->c_next) {
		if ((*pp)->c_fn == fn && (*pp)->c_arg == arg) {
			collector *c = *pp;
			*pp          = c->c_next;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&r->r_mtx);
	pthread_mutex_unlock(&r->r_scrape);
}

// ------------------------------------------------------------- rendering

static void
put_escaped(sf_buf *b, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\') {
			sf_buf_puts(b, "\\\\");
		} else if (*s == '\n') {
			sf_buf_puts(b, "\\n");
		} else if (quote && *s == '"') {
			sf_buf_puts(b, "\\\"");
		} else {
			sf_buf_putc(b, *s);
		}
	}
}

static void
put_number(sf_buf *b, double v)
{
	if (isnan(v)) {
		sf_buf_puts(b, "NaN");
	} else if (isinf(v)) {
		sf_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		sf_buf_printf(b, "%.0f", v);
	} else {
		sf_buf_printf(b, "%.15g", v);
	}
}

// name{l1="v1",...[,le="x"]}
static void
put_series_name(sf_buf *b, const sf_metric *m, const char *suffix,
    const series *s, const char *le)
{
	sf_buf_puts(b, m->m_name);
	sf_buf_puts(b, suffix);
	if (m->m_nlabels == 0 && le == NULL) {
		return;
	}
	sf_buf_putc(b, '{');
	for (size_t i = 0; i < m->m_nlabels; i++) {
		sf_buf_printf(b, "%s%s=\"", i ? "," : "", m->m_labels[i]);
		put_escaped(b, s->s_values[i], true);
		sf_buf_putc(b, '"');
	}
	if (le != NULL) {
		sf_buf_printf(b, "%sle=\"%s\"", m->m_nlabels ? "," : "", le);
	}
	sf_buf_putc(b, '}');
}

static void
render_metric(sf_metric *m, sf_buf *b)
{
	sf_buf_printf(b, "# HELP %s ", m->m_name);
	put_escaped(b, m->m_help, false);
	sf_buf_printf(b, "\n# TYPE %s %s\n", m->m_name, type_names[m->m_type]);
	pthread_mutex_lock(&m->m_mtx);
	for (size_t i = 0; i < m->m_nseries; i++) {
		series *s = m->m_series[i];
		if (m->m_type != M_HISTOGRAM) {
			put_series_name(b, m, "", s, NULL);
			sf_buf_putc(b, ' ');
			put_number(b, s->s_value);
			sf_buf_putc(b, '\n');
			continue;
		}
		uint64_t cum = 0;
		for (size_t k = 0; k <= m->m_nbounds; k++) {
			char le[40];
			cum += s->s_buckets[k];
			if (k == m->m_nbounds) {
				snprintf(le, sizeof(le), "+Inf");
			} else {
				snprintf(le, sizeof(le), "%g", m->m_bounds[k]);
			}
			put_series_name(b, m, "_bucket", s, le);
			sf_buf_printf(b, " %llu\n", (unsigned long long) cum);
		}
		put_series_name(b, m, "_sum", s, NULL);
		sf_buf_putc(b, ' ');
		put_number(b, s->s_value);
		sf_buf_putc(b, '\n');
		put_series_name(b, m, "_count", s, NULL);
		sf_buf_printf(b, " %llu\n", (unsigned long long) s->s_count);
	}
	pthread_mutex_unlock(&m->m_mtx);
}

int
sf_metrics_render(sf_metrics *r, sf_buf *out)
{
	collector *c;
	size_t     n = 0, k = 0;

	pthread_mutex_lock(&r->r_scrape);
	// Collectors run without r_mtx (they register families, which takes
	// it), from a copy of the list made under it.
	pthread_mutex_lock(&r->r_mtx);
	for (c = r->r_collectors; c != NULL; c = c->c_next) {
		n++;
	}
	collector *run = calloc(n + 1, sizeof(*run));
	for (c = r->r_collectors; run != NULL && c != NULL; c = c->c_next) {
		run[k++] = *c;
	}
	pthread_mutex_unlock(&r->r_mtx);
	bool oom = n > 0 && run == NULL;
	for (size_t i = 0; i < k; i++) {
		run[i].c_fn(run[i].c_arg, r);
	}
	free(run);
	// Lock order: r_mtx, then a family's m_mtx (updates take only the
	// latter).
	pthread_mutex_lock(&r->r_mtx);
	for (sf_metric *m = r->r_first; m != NULL; m = m->m_next) {
		render_metric(m, out);
	}
	pthread_mutex_unlock(&r->r_mtx);
	pthread_mutex_unlock(&r->r_scrape);
	return (out->b_oom || oom ? SF_RESOURCE_EXHAUSTED : 0);
}
