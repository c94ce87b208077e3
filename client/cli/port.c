// port.c: the small syntaxes of `create service` flags: --port specs and
// key=value pairs. Only the syntax is checked here; ranges and name rules
// are the server's, which reports them with Kubernetes field paths.
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define PORT_SYNTAX "[NAME:]PORT[:TARGET][/TCP|/UDP|/SCTP][@NODEPORT]"

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 9) { // 9 digits always fit an int32
		return (false);
	}
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char) s[i])) {
			return (false);
		}
	}
	return (true);
}

static int32_t
number(const char *s, size_t n)
{
	int32_t v = 0;
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (s[i] - '0');
	}
	return (v);
}

static int bad(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(char *why, size_t cap, const char *fmt, ...)
{
	char    what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(why, cap, "%s; want %s", what, PORT_SYNTAX);
	return (-1);
}

// Reads "/PROTO" and "@NODEPORT" suffixes, each at most once, any order.
static int
parse_suffixes(
    const char *rest, Svcfleet__V1__ServicePort *p, char *why, size_t cap)
{
	static const char *const protos[] = {"TCP", "UDP", "SCTP"};

	while (*rest != '\0') {
		char   kind = *rest++;
		size_t n    = strcspn(rest, "/@");
		size_t i;
		if (kind == '/') {
			if (p->protocol[0] != '\0') {
				return (bad(why, cap, "protocol given twice"));
			}
			for (i = 0; i < 3; i++) {
				if (strlen(protos[i]) == n
				    && strncasecmp(rest, protos[i], n) == 0) {
					p->protocol = (char *) protos[i];
					break;
				}
			}
			if (i == 3) {
				return (bad(why, cap,
				    "unknown protocol \"%.*s\" (TCP, UDP or "
				    "SCTP)",
				    (int) n, rest));
			}
		} else if (p->node_port != 0) {
			return (bad(why, cap, "node port given twice"));
		} else if (!all_digits(rest, n)) {
			return (
			    bad(why, cap, "node port \"%.*s\" is not a number",
			        (int) n, rest));
		} else if ((p->node_port = number(rest, n)) == 0) {
			return (bad(why, cap,
			    "node port 0 is not allowed (leave out @NODEPORT "
			    "to let the cluster choose)"));
		}
		rest += n;
	}
	return (0);
}

int
sf__cli_port_parse(const char *spec, sf_arena *a, Svcfleet__V1__ServicePort *p,
    char *why, size_t whycap)
{
	size_t      mainlen = strcspn(spec, "/@");
	const char *field[3];
	size_t      flen[3], nf = 0, iport = 0;
	const char *s = spec, *end = spec + mainlen;

	svcfleet__v1__service_port__init(p);
	if (parse_suffixes(end, p, why, whycap) != 0) {
		return (-1);
	}
	for (;;) {
		const char *colon = memchr(s, ':', (size_t) (end - s));
		size_t n = colon ? (size_t) (colon - s) : (size_t) (end - s);
		if (nf == 3) {
			return (bad(why, whycap, "too many ':' in \"%.*s\"",
			    (int) mainlen, spec));
		}
		if (n == 0) {
			return (bad(why, whycap, "empty field in \"%.*s\"",
			    (int) mainlen, spec));
		}
		field[nf]  = s;
		flen[nf++] = n;
		if (colon == NULL) {
			break;
		}
		s = colon + 1;
	}
	// Two fields: "80:8080" is PORT:TARGET, "http:80" is NAME:PORT.
	if (nf == 3 || (nf == 2 && !all_digits(field[0], flen[0]))) {
		if ((p->name = sf_arena_strndup(a, field[0], flen[0]))
		    == NULL) {
			return (bad(why, whycap, "out of memory"));
		}
		iport = 1;
	}
	if (!all_digits(field[iport], flen[iport])) {
		return (bad(why, whycap, "port \"%.*s\" is not a number",
		    (int) flen[iport], field[iport]));
	}
	p->port = number(field[iport], flen[iport]);
	if (iport + 1 < nf) {
		const char *t  = field[iport + 1];
		size_t      tn = flen[iport + 1];
		if (all_digits(t, tn)) {
			p->target_port = number(t, tn);
		} else if ((p->target_port_name = sf_arena_strndup(a, t, tn))
		    == NULL) {
			return (bad(why, whycap, "out of memory"));
		}
	}
	return (0);
}

int
sf__cli_kv_parse(const char *s, sf_arena *a, Svcfleet__V1__KeyValue *kv)
{
	const char *eq = strchr(s, '=');
	svcfleet__v1__key_value__init(kv);
	if (eq == NULL || eq == s) {
		return (-1);
	}
	kv->key   = sf_arena_strndup(a, s, (size_t) (eq - s));
	kv->value = sf_arena_strdup(a, eq + 1);
	return (kv->key != NULL && kv->value != NULL ? 0 : -1);
}
