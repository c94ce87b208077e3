// kf_json.c: small JSON helpers, YAML decoding, ids and time stamps.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <yaml.h>

#include "kf.h"

json_t *
kf_jget(json_t *o, const char *path)
{
	const char *p = path;
	while (o != NULL && *p) {
		const char *dot = strchr(p, '.');
		size_t      n   = dot ? (size_t) (dot - p) : strlen(p);
		if (!json_is_object(o)) {
			return NULL;
		}
		o = json_object_getn(o, p, n);
		p += n;
		if (*p == '.') {
			p++;
		}
	}
	return o;
}

const char *
kf_jstr(json_t *o, const char *path)
{
	json_t *v = kf_jget(o, path);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *
kf_jkey(json_t *o, const char *key)
{
	return json_is_object(o) ? json_string_value(json_object_get(o, key))
	                         : NULL;
}

json_t *
kf_jobj(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(o, key, v);
	}
	return v;
}

char *
kf_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (len) {
		*len = s ? strlen(s) : 0;
	}
	return s;
}

// ---- YAML ----------------------------------------------------------------

static json_t *
yaml_scalar(const yaml_event_t *ev)
{
	const char *v     = (const char *) ev->data.scalar.value;
	size_t      n     = ev->data.scalar.length;
	const char *tag   = (const char *) ev->data.scalar.tag;
	bool        plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (tag && strcmp(tag, YAML_STR_TAG) == 0) {
		plain = false;
	}
	if (!plain) {
		return json_stringn(v, n);
	}
	if (n == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0
	    || strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0) {
		return json_null();
	}
	if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0
	    || strcmp(v, "TRUE") == 0) {
		return json_true();
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0
	    || strcmp(v, "FALSE") == 0) {
		return json_false();
	}
	char *end    = NULL;
	errno        = 0;
	long long ll = strtoll(v, &end, 10);
	if (end && *end == '\0' && errno == 0
	    && (v[0] == '-' || v[0] == '+' || (v[0] >= '0' && v[0] <= '9'))) {
		return json_integer(ll);
	}
	errno    = 0;
	double d = strtod(v, &end);
	if (end && *end == '\0' && errno == 0
	    && strspn(v, "+-0123456789.eE") == n) {
		return json_real(d);
	}
	return json_stringn(v, n);
}

// yaml_node parses one node whose first event is ev (consumed here).
static json_t *
yaml_node(yaml_parser_t *p, yaml_event_t *ev, char *err, size_t cap, int depth)
{
	if (depth > 100) {
		snprintf(err, cap, "yaml: exceeded max depth");
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return yaml_scalar(ev);
	case YAML_ALIAS_EVENT:
		snprintf(err, cap, "yaml: aliases are not supported");
		return NULL;
	case YAML_SEQUENCE_START_EVENT: {
		json_t *a = json_array();
		for (;;) {
			yaml_event_t e;
			if (!yaml_parser_parse(p, &e)) {
				snprintf(err, cap, "yaml: line %zu: %s",
				    p->problem_mark.line + 1,
				    p->problem ? p->problem : "error");
				json_decref(a);
				return NULL;
			}
			if (e.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&e);
				return a;
			}
			json_t *v = yaml_node(p, &e, err, cap, depth + 1);
			yaml_event_delete(&e);
			if (v == NULL) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, v);
		}
	}
	case YAML_MAPPING_START_EVENT: {
		json_t *o = json_object();
		for (;;) {
			yaml_event_t k;
			if (!yaml_parser_parse(p, &k)) {
				snprintf(err, cap, "yaml: line %zu: %s",
				    p->problem_mark.line + 1,
				    p->problem ? p->problem : "error");
				json_decref(o);
				return NULL;
			}
			if (k.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&k);
				return o;
			}
			if (k.type != YAML_SCALAR_EVENT) {
				snprintf(err, cap,
				    "yaml: line %zu: mapping keys must be "
				    "scalars",
				    k.start_mark.line + 1);
				yaml_event_delete(&k);
				json_decref(o);
				return NULL;
			}
			char *key = strndup((const char *) k.data.scalar.value,
			    k.data.scalar.length);
			yaml_event_delete(&k);
			yaml_event_t ve;
			if (!yaml_parser_parse(p, &ve)) {
				snprintf(err, cap, "yaml: line %zu: %s",
				    p->problem_mark.line + 1,
				    p->problem ? p->problem : "error");
				free(key);
				json_decref(o);
				return NULL;
			}
			json_t *v = yaml_node(p, &ve, err, cap, depth + 1);
			yaml_event_delete(&ve);
			if (v == NULL) {
				free(key);
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, key, v);
			free(key);
		}
	}
	default:
		snprintf(err, cap, "yaml: unexpected event");
		return NULL;
	}
}

json_t *
kf_yaml_to_json(const char *text, size_t n, char *err, size_t cap)
{
	// JSON is YAML, but jansson is faster and exact for it.
	size_t i = 0;
	while (i < n
	    && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t'
	        || text[i] == '\r')) {
		i++;
	}
	if (i < n && (text[i] == '{' || text[i] == '[')) {
		json_error_t je;
		json_t      *j = json_loadb(text, n, JSON_DECODE_ANY, &je);
		if (j != NULL) {
			return j;
		}
	}
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, cap, "yaml: out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *) text, n);
	json_t *out = NULL;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			snprintf(err, cap, "yaml: line %zu: %s",
			    p.problem_mark.line + 1,
			    p.problem ? p.problem : "error");
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			if (out == NULL) {
				out = json_null();
			}
			break;
		}
		if (ev.type == YAML_SCALAR_EVENT
		    || ev.type == YAML_SEQUENCE_START_EVENT
		    || ev.type == YAML_MAPPING_START_EVENT
		    || ev.type == YAML_ALIAS_EVENT) {
			out = yaml_node(&p, &ev, err, cap, 0);
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return out;
}

// ---- ids, randomness and time --------------------------------------------

static _Thread_local uint64_t rand_state;

uint64_t
kf_rand_u64(void)
{
	if (rand_state == 0) {
		if (getrandom(&rand_state, sizeof(rand_state), 0)
		    != (ssize_t) sizeof(rand_state)) {
			rand_state
			    = (uint64_t) time(NULL) ^ (uint64_t) &rand_state;
		}
		rand_state |= 1;
	}
	// xorshift64*: ids and allocation starts, not secrets.
	rand_state ^= rand_state >> 12;
	rand_state ^= rand_state << 25;
	rand_state ^= rand_state >> 27;
	return rand_state * 0x2545F4914F6CDD1DULL;
}

void
kf_uuid(char out[37])
{
	unsigned char b[16];
	uint64_t      a = kf_rand_u64(), c = kf_rand_u64();
	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
	    "%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

void
kf_now_rfc3339(char out[32])
{
	time_t    t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
