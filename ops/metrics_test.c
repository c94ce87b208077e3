// metrics_test.c: the metrics registry renders the Prometheus text format:
// families in order, series sorted and escaped, cumulative histogram
// buckets, collectors run before rendering, bad registrations refused.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops.h"

static char *
render(sf_metrics *r)
{
	sf_buf b = SF_BUF_INIT;
	assert_int_equal(sf_metrics_render(r, &b), 0);
	return (sf_buf_take(&b));
}

static void
test_counter_gauge(void **state)
{
	sf_metrics *r;
	(void) state;
	assert_int_equal(sf_metrics_alloc(&r), 0);
	sf_metric *c = sf_metrics_counter(
	    r, "t_requests_total", "Requests.\nSecond line.", "method,code");
	sf_metric *g = sf_metrics_gauge(r, "t_depth", "Depth.", NULL);
	assert_non_null(c);
	assert_non_null(g);
	sf_metric_add(c, (const char *[]) {"b", "OK"}, 1);
	sf_metric_add(c, (const char *[]) {"a", "OK"}, 2);
	sf_metric_add(c, (const char *[]) {"a", "OK"}, 1);
	sf_metric_add(c, (const char *[]) {"a\"x\\y\n", "E"}, 1);
	sf_metric_add(c, (const char *[]) {"a", "OK"}, -5); // ignored
	sf_metric_set(g, NULL, 2.5);
	sf_metric_observe(g, NULL, 7); // wrong kind: ignored
	char *text = render(r);
	assert_string_equal(text,
	    "# HELP t_requests_total Requests.\\nSecond line.\n"
	    "# TYPE t_requests_total counter\n"
	    "t_requests_total{method=\"a\",code=\"OK\"} 3\n"
	    "t_requests_total{method=\"a\\\"x\\\\y\\n\",code=\"E\"} 1\n"
	    "t_requests_total{method=\"b\",code=\"OK\"} 1\n"
	    "# HELP t_depth Depth.\n"
	    "# TYPE t_depth gauge\n"
	    "t_depth 2.5\n");
	free(text);
	assert_true(sf_metric_value(c, (const char *[]) {"a", "OK"}) == 3);
	sf_metric_remove(c, (const char *[]) {"a", "OK"});
	assert_true(sf_metric_value(c, (const char *[]) {"a", "OK"}) == 0);
	sf_metric_clear(c);
	text = render(r);
	assert_null(strstr(text, "t_requests_total{"));
	free(text);
	sf_metrics_free(r);
}

static void
test_histogram(void **state)
{
	sf_metrics  *r;
	const double b[] = {0.1, 1, 10};
	(void) state;
	assert_int_equal(sf_metrics_alloc(&r), 0);
	sf_metric *h
	    = sf_metrics_histogram(r, "t_seconds", "Latency.", "m", b, 3);
	assert_non_null(h);
	double obs[] = {0.05, 0.1, 0.5, 5, 50};
	for (size_t i = 0; i < 5; i++) {
		sf_metric_observe(h, (const char *[]) {"x"}, obs[i]);
	}
	char *text = render(r);
	assert_non_null(strstr(text,
	    "t_seconds_bucket{m=\"x\",le=\"0.1\"} 2\n"
	    "t_seconds_bucket{m=\"x\",le=\"1\"} 3\n"
	    "t_seconds_bucket{m=\"x\",le=\"10\"} 4\n"
	    "t_seconds_bucket{m=\"x\",le=\"+Inf\"} 5\n"
	    "t_seconds_sum{m=\"x\"} 55.65\n"
	    "t_seconds_count{m=\"x\"} 5\n"));
	free(text);
	sf_metrics_free(r);
}

static void
test_registration(void **state)
{
	sf_metrics *r;
	(void) state;
	assert_int_equal(sf_metrics_alloc(&r), 0);
	sf_metric *a = sf_metrics_gauge(r, "t_g", "G.", "cluster");
	// The same shape is the same family; another shape is refused.
	assert_ptr_equal(sf_metrics_gauge(r, "t_g", "G.", "cluster"), a);
	assert_null(sf_metrics_counter(r, "t_g", "G.", "cluster"));
	assert_null(sf_metrics_gauge(r, "t_g", "G.", "node"));
	// Malformed names and labels.
	assert_null(sf_metrics_gauge(r, "1bad", "", NULL));
	assert_null(sf_metrics_gauge(r, "t-bad", "", NULL));
	assert_null(sf_metrics_gauge(r, "t_ok", "", "bad-label"));
	assert_null(sf_metrics_gauge(r, "t_ok2", "", "__reserved"));
	assert_null(sf_metrics_histogram(r, "t_h", "", "le", NULL, 0));
	const double down[] = {2, 1};
	assert_null(sf_metrics_histogram(r, "t_h2", "", NULL, down, 2));
	// A NULL metric is a no-op.
	sf_metric_add(NULL, NULL, 1);
	sf_metrics_free(r);
}

static int collected;

static void
collect(void *arg, sf_metrics *r)
{
	(void) r;
	collected++;
	sf_metric_set(arg, (const char *[]) {"east"}, collected);
}

static void
test_collector(void **state)
{
	sf_metrics *r;
	(void) state;
	assert_int_equal(sf_metrics_alloc(&r), 0);
	sf_metric *g = sf_metrics_gauge(r, "t_lag", "Lag.", "cluster");
	assert_int_equal(sf_metrics_add_collector(r, collect, g), 0);
	char *text = render(r);
	assert_non_null(strstr(text, "t_lag{cluster=\"east\"} 1\n"));
	free(text);
	text = render(r);
	assert_non_null(strstr(text, "t_lag{cluster=\"east\"} 2\n"));
	free(text);
	sf_metrics_remove_collector(r, collect, g);
	text = render(r);
	assert_non_null(strstr(text, "t_lag{cluster=\"east\"} 2\n"));
	free(text);
	sf_metrics_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counter_gauge),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_registration),
	    cmocka_unit_test(test_collector),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
