// common_test.c: status table, arena, buffers, time helpers, base64 and
// file reading.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "base64.h"
#include "buf.h"
#include "clock.h"
#include "file.h"
#include "log.h"
#include "status.h"

static void
test_status_names(void **state)
{
	(void) state;
	assert_string_equal(sf_status_name(SF_OK), "OK");
	assert_string_equal(sf_status_name(3), "INVALID_ARGUMENT");
	assert_string_equal(sf_status_name(16), "UNAUTHENTICATED");
	assert_string_equal(sf_status_name(99), "CODE_99");
	assert_int_equal(sf_status_from_name("aborted"), SF_ABORTED);
	assert_int_equal(sf_status_from_name("nope"), -1);
}

// A long message is cut whole characters at a time: never inside a UTF-8
// sequence (the cluster's messages are often longer than 511 bytes).
static void
test_status_utf8_cut(void **state)
{
	char      msg[600];
	sf_status st;
	(void) state;
	for (size_t off = 505; off <= 511; off++) {
		for (const char *ch = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
		     *ch != '\0';) {
			size_t k = ((unsigned char) *ch >= 0xF0) ? 4
			    : ((unsigned char) *ch >= 0xE0)      ? 3
			                                         : 2;
			memset(msg, 'a', off);
			memcpy(msg + off, ch, k);
			memset(msg + off + k, 'b', 40);
			msg[off + k + 40] = '\0';
			sf_status_init(&st);
			sf_status_set(&st, SF_INTERNAL, "%s", msg);
			size_t n = strlen(st.st_msg);
			// Either the character is whole or it is gone.
			if (n > off) {
				assert_true(n >= off + k);
				assert_memory_equal(st.st_msg + off, ch, k);
			} else {
				assert_int_equal(n, off);
			}
			sf_status_fini(&st);
			ch += k;
		}
	}
	// The text is kept as it is when it fits.
	sf_status_init(&st);
	sf_status_set(&st, SF_INTERNAL, "caf\xc3\xa9");
	assert_string_equal(st.st_msg, "caf\xc3\xa9");
	sf_status_fini(&st);
}

static void
test_status_first_wins(void **state)
{
	sf_status st;
	(void) state;
	sf_status_init(&st);
	assert_int_equal(
	    sf_status_set(&st, SF_NOT_FOUND, "a %d\nb", 1), SF_NOT_FOUND);
	assert_int_equal(
	    sf_status_set(&st, SF_INTERNAL, "later"), SF_INTERNAL);
	assert_int_equal(st.st_code, SF_NOT_FOUND);
	assert_string_equal(st.st_msg, "a 1 b");
	assert_int_equal(sf_status_violation(&st, SF_V_INVALID,
	                     "spec.ports[0].port", "Invalid value: %d", 0),
	    0);
	assert_int_equal(st.st_nviol, 1);
	assert_string_equal(st.st_viol[0].v_field, "spec.ports[0].port");
	sf_status copy = {0};
	assert_int_equal(sf_status_copy(&copy, &st), 0);
	assert_string_equal(copy.st_viol[0].v_reason, "Invalid value: 0");
	sf_status_fini(&copy);
	sf_status_fini(&st);
	assert_int_equal(sf_status_set(NULL, SF_ABORTED, "x"), SF_ABORTED);
}

static void
test_arena(void **state)
{
	sf_arena a;
	(void) state;
	sf_arena_init(&a);
	char *s = sf_arena_printf(&a, "%s-%d", "x", 42);
	assert_string_equal(s, "x-42");
	for (int i = 0; i < 1000; i++) {
		unsigned char *p = sf_arena_alloc(&a, (size_t) i * 7 + 1);
		assert_non_null(p);
		assert_int_equal((uintptr_t) p % 16, 0);
		memset(p, 0xab, (size_t) i * 7 + 1);
	}
	void *big = sf_arena_alloc(&a, 1 << 20);
	assert_non_null(big);
	sf_arena_reset(&a);
	assert_int_equal(a.ar_used, 0);
	assert_non_null(sf_arena_zalloc(&a, 100));
	ProtobufCAllocator *pa = sf_arena_pbc(&a);
	assert_non_null(pa->alloc(pa->allocator_data, 10));
	sf_arena_fini(&a);
}

static void
test_buf(void **state)
{
	sf_buf b = SF_BUF_INIT;
	(void) state;
	assert_string_equal(sf_buf_cstr(&b), "");
	for (int i = 0; i < 100; i++) {
		sf_buf_printf(&b, "%d,", i);
	}
	assert_int_equal(strncmp(b.b_data, "0,1,2,", 6), 0);
	char *t = sf_buf_take(&b);
	assert_int_equal(strlen(t), 290);
	free(t);
	assert_null(b.b_data);
	sf_buf_fini(&b);
}

static void
test_durations(void **state)
{
	static const struct {
		const char *in;
		int64_t     ms;
	} ok[] = {
	    {"30s", 30000},
	    {"5m", 300000},
	    {"1h30m", 5400000},
	    {"1.5h", 5400000},
	    {"250ms", 250},
	    {"2d", 172800000},
	    {"60", 60000},
	    {"24h", 86400000},
	};
	static const char *bad[] = {"", "x", "-5s", "5x", "5s3", "s"};
	(void) state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t ms = -1;
		assert_int_equal(sf_duration_parse(ok[i].in, &ms), 0);
		assert_int_equal(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms;
		assert_int_equal(sf_duration_parse(bad[i], &ms), -1);
	}
}

static void
test_ages(void **state)
{
	static const struct {
		int64_t     ms;
		const char *out;
	} cases[] = {
	    {-5, "0s"},
	    {45000, "45s"},
	    {312000, "5m12s"},
	    {1800000, "30m"},
	    {3 * 3600000 + 60000, "3h1m"},
	    {20 * 3600000LL, "20h"},
	    {4 * 86400000LL, "4d"},
	    {100 * 86400000LL, "100d"},
	    {800 * 86400000LL, "2y"},
	};
	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		sf_duration_age(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].out);
	}
}

static void
test_rfc3339(void **state)
{
	char    buf[40];
	int64_t ms;
	(void) state;
	sf_clock_format_rfc3339(1764126738000LL, buf, sizeof(buf));
	assert_string_equal(buf, "2025-11-26T03:12:18Z");
	sf_clock_format_rfc3339_ms(1764126738123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2025-11-26T03:12:18.123Z");
	assert_int_equal(sf_clock_parse_rfc3339(buf, &ms), 0);
	assert_int_equal(ms, 1764126738123LL);
	assert_int_equal(
	    sf_clock_parse_rfc3339("2025-11-26T04:12:18+01:00", &ms), 0);
	assert_int_equal(ms, 1764126738000LL);
	assert_int_equal(
	    sf_clock_parse_rfc3339("2025-13-01T00:00:00Z", &ms), -1);
	assert_int_equal(sf_clock_parse_rfc3339("yesterday", &ms), -1);
}

static char last_line[4096];

static void
capture(void *arg, int level, const char *line)
{
	(void) arg;
	(void) level;
	snprintf(last_line, sizeof(last_line), "%s", line);
}

static void
test_log_logfmt(void **state)
{
	(void) state;
	sf_log_set_sink(capture, NULL);
	sf_log_set_request_id("r-1");
	SF_INFO("store", "opened \"%s\"", "dir one");
	assert_non_null(strstr(last_line, " level=info mod=store req=r-1 "));
	assert_non_null(strstr(last_line, "msg=\"opened \\\"dir one\\\"\""));
	sf_log_set_request_id(NULL);
	last_line[0] = '\0';
	SF_DEBUG("store", "hidden");
	assert_string_equal(last_line, "");
	sf_log_set_sink(NULL, NULL);
	assert_int_equal(sf_log_level_parse("WARN"), SF_LOG_WARN);
	assert_int_equal(sf_log_level_parse("loud"), -1);
}

// RFC 4648 §10's vectors in both alphabets, then every length 0..64 of
// every byte value round-trips, and what is not base64 is refused.
static void
test_base64(void **state)
{
	static const struct {
		const char *in, *std, *url;
	} vec[] = {
	    {"", "", ""},
	    {"f", "Zg==", "Zg"},
	    {"fo", "Zm8=", "Zm8"},
	    {"foo", "Zm9v", "Zm9v"},
	    {"foob", "Zm9vYg==", "Zm9vYg"},
	    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
	    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
	    {"\xfb\xff", "+/8=", "-_8"},
	};
	char          enc[256];
	unsigned char raw[192], dec[192];
	(void) state;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = strlen(vec[i].in);
		assert_int_equal(sf_base64_encode(enc, vec[i].in, n, 0),
		    strlen(vec[i].std));
		assert_string_equal(enc, vec[i].std);
		assert_int_equal(
		    sf_base64_encoded_len(n, 0), strlen(vec[i].std));
		sf_base64_encode(enc, vec[i].in, n, SF_B64_URL);
		assert_string_equal(enc, vec[i].url);
		assert_int_equal(
		    sf_base64_encoded_len(n, SF_B64_URL), strlen(vec[i].url));
		assert_int_equal(sf_base64_decode(dec, sizeof(dec), vec[i].std,
		                     strlen(vec[i].std), 0),
		    (ssize_t) n);
		assert_memory_equal(dec, vec[i].in, n);
		assert_int_equal(sf_base64_decode(dec, sizeof(dec), vec[i].url,
		                     strlen(vec[i].url), SF_B64_URL),
		    (ssize_t) n);
		assert_memory_equal(dec, vec[i].in, n);
	}
	for (size_t n = 0; n <= 64; n++) {
		for (size_t i = 0; i < n; i++) {
			raw[i] = (unsigned char) (i * 37 + n * 11);
		}
		for (int fl = 0; fl <= SF_B64_URL; fl += SF_B64_URL) {
			size_t m = sf_base64_encode(enc, raw, n, fl);
			assert_int_equal(
			    sf_base64_decode(dec, sizeof(dec), enc, m, fl),
			    (ssize_t) n);
			assert_memory_equal(dec, raw, n);
		}
	}
	// Whitespace only where asked for; padding where it belongs.
	assert_int_equal(
	    sf_base64_decode(dec, sizeof(dec), "Zm9v\nYmFy", 9, 0), -1);
	assert_int_equal(sf_base64_decode(dec, sizeof(dec), "Zm9v\nYmFy\n", 10,
	                     SF_B64_SPACE),
	    6);
	assert_int_equal(sf_base64_decode(dec, sizeof(dec), "Zg", 2, 0), -1);
	assert_int_equal(
	    sf_base64_decode(dec, sizeof(dec), "Zg==", 4, SF_B64_URL), -1);
	assert_int_equal(sf_base64_decode(dec, sizeof(dec), "Zg=a", 4, 0), -1);
	assert_int_equal(sf_base64_decode(dec, sizeof(dec), "Z===", 4, 0), -1);
	assert_int_equal(
	    sf_base64_decode(dec, sizeof(dec), "Zm9v====", 8, 0), -1);
	assert_int_equal(sf_base64_decode(dec, sizeof(dec), "Zm9*", 4, 0), -1);
	assert_int_equal(sf_base64_decode(dec, sizeof(dec), "-_8", 3, 0), -1);
	assert_int_equal(
	    sf_base64_decode(dec, 2, "Zm9v", 4, 0), -1); // too small
}

static void
test_file_read(void **state)
{
	char   path[] = "/tmp/sf-common-test-XXXXXX";
	int    fd     = mkstemp(path);
	char  *got;
	size_t len = 99;
	(void) state;

	assert_true(fd >= 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(write(fd, "0123456789", 10), 10);
	}
	close(fd);
	got = sf_file_read(path, 10000, &len);
	assert_non_null(got);
	assert_int_equal(len, 10000);
	assert_int_equal(got[10000], '\0');
	assert_memory_equal(got + 9990, "0123456789", 10);
	free(got);
	errno = 0;
	assert_null(sf_file_read(path, 9999, &len));
	assert_int_equal(errno, EFBIG);
	unlink(path);
	assert_null(sf_file_read(path, 10000, NULL));
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_status_first_wins),
	    cmocka_unit_test(test_status_utf8_cut),
	    cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_buf),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_ages),
	    cmocka_unit_test(test_rfc3339),
	    cmocka_unit_test(test_log_logfmt),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_file_read),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
