// bounds.c: what one request may hold, checked before any other work
// (issue 17), so that no caller — an ns-edit tenant or anyone who can reach
// the port — can make svcfleetd spend memory or time out of proportion to
// what a legitimate request needs.
//
// Two passes, both driven by the descriptors protoc-c generated, so every
// method and every field is covered without a hand-kept list:
//   prescan  before the payload is decoded: the encoded fields are counted
//            (nested messages included) without allocating anything. A
//            payload of more than SF__SRV_REQUEST_FIELDS_MAX fields is
//            refused: 4 MiB of empty ServicePorts would otherwise decode
//            into two million structs.
//   check    after decoding: each repeated field against its cap (the
//            table below, Kubernetes' limits where Kubernetes has one), and
//            every string field for valid UTF-8 (protobuf-c does not check;
//            the gateway, the CLI and JSON all need it). Each problem is a
//            violation with the field's path.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

// A generous bound: ReportStatuses' 1000 reports need about 20,000.
#define SF__SRV_REQUEST_FIELDS_MAX 100000
#define NESTING_MAX                32
#define REPEATED_DEFAULT_MAX       10000
#define PATH_CAP                   512

// Caps of repeated fields, by message and field (proto names).
static const struct {
	const char *c_msg;
	const char *c_field;
	size_t      c_max;
} caps[] = {
    // The most ports Kubernetes puts in one EndpointSlice: a Service with
    // more cannot be served by one slice.
    {"svcfleet.v1.ServiceSpec", "ports", 100},
    {"svcfleet.v1.ServiceSpec", "selector", 256},
    {"svcfleet.v1.ServiceSpec", "load_balancer_source_ranges", 256},
    {"svcfleet.v1.ObjectMeta", "labels", 256},
    // Kubernetes bounds their total size (256 KiB, checked by
    // validation); this bounds their number, which the size does not
    // (a 1-byte key with an empty value is 1 byte).
    {"svcfleet.v1.ObjectMeta", "annotations", 1024},
    {"svcfleet.v1.ObjectMeta", "finalizers", 64},
    {"svcfleet.v1.ClusterStatus", "node_ports", 100},
    {"svcfleet.v1.ClusterStatus", "ingress", 64},
    {"svcfleet.v1.Cluster", "labels", 256},
    {"svcfleet.v1.RoleBinding", "groups", 256},
};

// ---------------------------------------------------------------- prescan

static bool
varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *i < len; shift += 7) {
		uint8_t b = p[(*i)++];
		v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return (true);
		}
	}
	return (false);
}

static bool
is_varint_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
		return (true);
	default:
		return (false);
	}
}

static size_t cap_of(
    const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f);

#define COUNTED_FIELDS 64

// The repeated fields of one encoded message against their caps, from the
// counts of their occurrences: the first over its cap is reported on st
// (its path is the field's name in the message) and false returned.
static bool
scan_caps(
    const ProtobufCMessageDescriptor *d, const uint32_t *counts, sf_status *st)
{
	for (unsigned k = 0; k < d->n_fields && k < COUNTED_FIELDS; k++) {
		const ProtobufCFieldDescriptor *f = &d->fields[k];
		if (f->label == PROTOBUF_C_LABEL_REPEATED && counts[k] > 0
		    && counts[k] > cap_of(d, f)) {
			// The path as Kubernetes names the Service's parts,
			// else message.field.
			char        path[128];
			size_t      n = 0;
			const char *root
			    = d == &svcfleet__v1__service_spec__descriptor
			    ? "spec"
			    : d == &svcfleet__v1__object_meta__descriptor
			    ? "metadata"
			    : d->short_name;
			n = (size_t) snprintf(path, sizeof(path), "%s.", root);
			for (const char *c = f->name;
			     *c != '\0' && n + 1 < sizeof(path); c++) {
				if (*c == '_' && c[1] != '\0') {
					c++;
					path[n++] = (char) (*c - 'a' + 'A');
				} else {
					path[n++] = *c;
				}
			}
			path[n] = '\0';
			sf_status_violation(st, SF_V_TOO_MANY, path,
			    "Too many: %u: must have at most %zu items",
			    counts[k], cap_of(d, f));
			sf_status_set(st, SF_INVALID_ARGUMENT,
			    "%s: Too many: %u: must have at most %zu items",
			    path, counts[k], cap_of(d, f));
			return (false);
		}
	}
	return (true);
}

// Counts the fields of one encoded message into *left (down from the
// budget), and each repeated field's occurrences against its cap. Returns
// false when the budget ran out or a cap was passed (st says which); a
// malformed encoding stops the count quietly (decoding will refuse it
// with its own error).
static bool
scan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
    unsigned depth, size_t *left, sf_status *st)
{
	size_t   i = 0;
	uint32_t counts[COUNTED_FIELDS];
	// Repeated fields come as runs of one tag: the last lookup is kept
	// (i17-p99: an attack's 150,000 empty ports were 150,000 binary
	// searches of the descriptor).
	uint64_t                        last_tag = 0;
	const ProtobufCFieldDescriptor *last_f   = NULL;
	size_t                          last_cap = SIZE_MAX;

	if (depth > NESTING_MAX) {
		return (false);
	}
	memset(counts, 0, sizeof(counts));
	while (i < len) {
		uint64_t tag, n;
		if (!varint(p, len, &i, &tag)) {
			return (true);
		}
		if (*left == 0) {
			return (false);
		}
		(*left)--;
		switch (tag & 7) {
		case 0:
			if (!varint(p, len, &i, &n)) {
				return (true);
			}
			break;
		case 1:
			i += 8;
			break;
		case 5:
			i += 4;
			break;
		case 2: {
			const ProtobufCFieldDescriptor *f = NULL;
			if (!varint(p, len, &i, &n) || n > len - i) {
				return (true);
			}
			bool over = false;
			if (tag == last_tag && last_tag != 0) {
				f = last_f;
			} else if (d != NULL && (tag >> 3) <= UINT32_MAX) {
				f = protobuf_c_message_descriptor_get_field(
				    d, (unsigned) (tag >> 3));
				last_tag = tag;
				last_f   = f;
				last_cap = f != NULL
				        && f->label
				            == PROTOBUF_C_LABEL_REPEATED
				    ? cap_of(d, f)
				    : SIZE_MAX;
			}
			if (f != NULL && f - d->fields < COUNTED_FIELDS) {
				uint32_t *c = &counts[f - d->fields];
				(*c)++;
				// Over its cap already: the request will be
				// refused; its elements are counted, not read.
				over = *c > last_cap;
			}
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE
			    && !over
			    && !scan(f->descriptor, p + i, (size_t) n,
			        depth + 1, left, st)) {
				return (false);
			}
			if (f != NULL && f->label == PROTOBUF_C_LABEL_REPEATED
			    && is_varint_type(f->type)) {
				// Packed: each element is one more value.
				for (size_t k = 0; k < n; k++) {
					if ((p[i + k] & 0x80) == 0) {
						if (*left == 0) {
							return (false);
						}
						(*left)--;
					}
				}
			}
			i += (size_t) n;
			break;
		}
		default:
			return (true);
		}
	}
	return (d == NULL || scan_caps(d, counts, st));
}

int
sf__srv_bounds_prescan(const ProtobufCMessageDescriptor *d,
    const uint8_t *data, size_t len, sf_status *st)
{
	size_t left = SF__SRV_REQUEST_FIELDS_MAX;

	if (scan(d, data, len, 0, &left, st)) {
		return (0);
	}
	if (st->st_code != 0) {
		return (st->st_code); // a cap, said before decoding
	}
	return (sf_status_set(st, SF_RESOURCE_EXHAUSTED,
	    "the request holds more than %d fields (or nests deeper than "
	    "%d): refused before decoding",
	    SF__SRV_REQUEST_FIELDS_MAX, NESTING_MAX));
}

// ------------------------------------------------------------------ check

// utf8_bad returns the offset of the first byte of s that is not valid
// UTF-8 (overlong forms, surrogates and code points beyond U+10FFFF
// included), or -1 when s is valid.
static long
utf8_bad(const char *str)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t               i = 0;

	while (s[i] != '\0') {
		unsigned char c = s[i];
		uint32_t      cp;
		size_t        n;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n  = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n  = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n  = 4;
			cp = c & 0x07;
		} else {
			return ((long) i);
		}
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return ((long) i);
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
		    || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
			return ((long) i);
		}
		i += n;
	}
	return (-1);
}

typedef struct walk {
	sf_status *w_st;
	char       w_path[PATH_CAP];
	size_t     w_len;
} walk;

// Appends ".name" (name in lowerCamelCase, as Kubernetes and JSON spell
// fields) or "[i]" to the path; returns the length to restore.
static size_t
path_push_name(walk *w, const char *name)
{
	size_t keep = w->w_len;
	bool   up   = false;

	if (w->w_len > 0 && w->w_len + 1 < PATH_CAP) {
		w->w_path[w->w_len++] = '.';
	}
	for (; *name != '\0' && w->w_len + 1 < PATH_CAP; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		w->w_path[w->w_len++]
		    = up ? (char) (*name - 'a' + 'A') : *name;
		up = false;
	}
	w->w_path[w->w_len] = '\0';
	return (keep);
}

static size_t
path_push_index(walk *w, size_t i)
{
	size_t keep = w->w_len;
	int    n
	    = snprintf(w->w_path + w->w_len, PATH_CAP - w->w_len, "[%zu]", i);
	if (n > 0 && (size_t) n < PATH_CAP - w->w_len) {
		w->w_len += (size_t) n;
	}
	w->w_path[w->w_len] = '\0';
	return (keep);
}

static void
path_pop(walk *w, size_t keep)
{
	w->w_len            = keep;
	w->w_path[w->w_len] = '\0';
}

static size_t
cap_of(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (strcmp(caps[i].c_msg, d->name) == 0
		    && strcmp(caps[i].c_field, f->name) == 0) {
			return (caps[i].c_max);
		}
	}
	return (REPEATED_DEFAULT_MAX);
}

static void
check_string(walk *w, const char *s)
{
	long at;
	if (s != NULL && (at = utf8_bad(s)) >= 0) {
		sf_status_violation(w->w_st, SF_V_INVALID, w->w_path,
		    "Invalid value: not valid UTF-8 (byte %ld)", at);
	}
}

static void check_msg(walk *w, const ProtobufCMessage *m, unsigned depth);

static void
check_field(walk *w, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, unsigned depth)
{
	const char *base = (const char *) m;
	const void *at   = base + f->offset;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
	    && *(const uint32_t *) (base + f->quantifier_offset) != f->id) {
		return; // not the member set
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n   = *(const size_t *) (base + f->quantifier_offset);
		size_t max = cap_of(m->descriptor, f);
		if (n > max) {
			sf_status_violation(w->w_st, SF_V_TOO_MANY, w->w_path,
			    "Too many: %zu: must have at most %zu items", n,
			    max);
			return; // its items are not looked at
		}
		if (f->type != PROTOBUF_C_TYPE_STRING
		    && f->type != PROTOBUF_C_TYPE_MESSAGE) {
			return;
		}
		void *const *items = *(void *const *const *) at;
		for (size_t i = 0; i < n && !sf_status_full(w->w_st); i++) {
			size_t keep = path_push_index(w, i);
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				check_string(w, items[i]);
			} else if (items[i] != NULL) {
				check_msg(w, items[i], depth + 1);
			}
			path_pop(w, keep);
		}
		return;
	}
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		check_string(w, *(const char *const *) at);
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE
	    && *(const ProtobufCMessage *const *) at != NULL) {
		check_msg(w, *(const ProtobufCMessage *const *) at, depth + 1);
	}
}

static void
check_msg(walk *w, const ProtobufCMessage *m, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	size_t                            root;
	char                              saved[PATH_CAP];
	bool                              rerooted = false;

	if (depth > NESTING_MAX) {
		return; // the prescan refused deeper nesting
	}
	// Inside a Service, paths are the Service's own (metadata.name,
	// spec.ports[0].name), as Kubernetes and validation name them.
	root = w->w_len;
	if (d == &svcfleet__v1__service__descriptor && root > 0) {
		memcpy(saved, w->w_path, root + 1);
		w->w_len = 0;
		rerooted = true;
	}
	for (unsigned i = 0; i < d->n_fields && !sf_status_full(w->w_st);
	     i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t keep                       = path_push_name(w, f->name);
		check_field(w, m, f, depth);
		path_pop(w, keep);
	}
	if (rerooted) {
		memcpy(w->w_path, saved, root + 1);
	}
	path_pop(w, root);
}

int
sf__srv_bounds_check(const ProtobufCMessage *m, sf_status *st)
{
	walk  *w = calloc(1, sizeof(*w));
	size_t before;

	if (w == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	w->w_st = st;
	before  = sf_status_nviol(st);
	check_msg(w, m, 0);
	free(w);
	if (sf_status_nviol(st) == before) {
		return (0);
	}
	return (sf_status_set(st, SF_INVALID_ARGUMENT, "%s: %s",
	    st->st_viol[0].v_field, st->st_viol[0].v_reason));
}
