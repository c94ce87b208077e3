// names.c: Kubernetes name rules (apimachinery util/validation), hand-coded
// from their regular expressions, with Kubernetes' own messages.
#include <string.h>

#include "internal.h"

#define DNS1123_LABEL_FMT     "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"
#define DNS1035_LABEL_FMT     "[a-z]([-a-z0-9]*[a-z0-9])?"
#define QNAME_FMT             "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_ERR                                                        \
	"must consist of alphanumeric characters, '-', '_' or '.', and " \
	"must start and end with an alphanumeric character"
#define QNAME_EXAMPLES                                                   \
	" (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for " \
	"validation is '" QNAME_FMT "')"

static const char msg_1123_label[]
    = "a lowercase RFC 1123 label must consist of lower case alphanumeric "
      "characters or '-', and must start and end with an alphanumeric "
      "character (e.g. 'my-name',  or '123-abc', regex used for validation "
      "is '" DNS1123_LABEL_FMT "')";
static const char msg_1123_subdomain[]
    = "a lowercase RFC 1123 subdomain must consist of lower case "
      "alphanumeric characters, '-' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'example.com', regex used for "
      "validation is '" DNS1123_SUBDOMAIN_FMT "')";
static const char msg_prefix_1123_subdomain[]
    = "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
      "alphanumeric characters, '-' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'example.com', regex used for "
      "validation is '" DNS1123_SUBDOMAIN_FMT "')";
static const char msg_1035_label[]
    = "a DNS-1035 label must consist of lower case alphanumeric characters "
      "or '-', start with an alphabetic character, and end with an "
      "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used "
      "for validation is '" DNS1035_LABEL_FMT "')";
static const char msg_qname[] = "a qualified name " QNAME_ERR QNAME_EXAMPLES
                                " with an optional DNS subdomain prefix and "
                                "'/' (e.g. 'example.com/MyName')";
static const char msg_qname_name[] = "name part " QNAME_ERR QNAME_EXAMPLES;
static const char                                           msg_label_value[]
    = "a valid label must be an empty string or consist of alphanumeric "
      "characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
      "regex used for validation is '(" QNAME_FMT ")?')";

static bool
is_lower_alnum(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

static bool
is_alnum(char c)
{
	return (is_lower_alnum(c) || (c >= 'A' && c <= 'Z'));
}

// label_ok matches [a-z0-9]([-a-z0-9]*[a-z0-9])? on s[0..n).
static bool
label_ok(const char *s, size_t n, bool alpha_first)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) {
		return (false);
	}
	if (alpha_first && !(s[0] >= 'a' && s[0] <= 'z')) {
		return (false);
	}
	for (size_t i = 1; i + 1 < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-') {
			return (false);
		}
	}
	return (true);
}

static bool
subdomain_ok(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0) {
		return (false);
	}
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!label_ok(s + start, i - start, false)) {
				return (false);
			}
			start = i + 1;
		}
	}
	return (true);
}

// qname_part_ok matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
static bool
qname_part_ok(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1])) {
		return (false);
	}
	for (size_t i = 1; i + 1 < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_'
		    && s[i] != '.') {
			return (false);
		}
	}
	return (true);
}

size_t
sf__model_dns1123_label(const char *s, const char **msgs)
{
	size_t n = 0, len;

	s   = sf_nz(s);
	len = strlen(s);
	if (len > 63) {
		msgs[n++] = "must be no more than 63 characters";
	}
	if (!label_ok(s, len, false)) {
		msgs[n++] = subdomain_ok(s, len) ? "must not contain dots"
		                                 : msg_1123_label;
	}
	return (n);
}

size_t
sf__model_dns1123_subdomain(const char *s, const char **msgs)
{
	size_t n = 0, len;

	s   = sf_nz(s);
	len = strlen(s);
	if (len > 253) {
		msgs[n++] = "must be no more than 253 characters";
	}
	if (!subdomain_ok(s, len)) {
		msgs[n++] = msg_1123_subdomain;
	}
	return (n);
}

size_t
sf__model_dns1035_label(const char *s, const char **msgs)
{
	size_t n = 0, len;

	s   = sf_nz(s);
	len = strlen(s);
	if (len > 63) {
		msgs[n++] = "must be no more than 63 characters";
	}
	if (!label_ok(s, len, true)) {
		msgs[n++] = msg_1035_label;
	}
	return (n);
}

size_t
sf__model_qualified_name(const char *s, const char **msgs)
{
	const char *slash, *name;
	size_t      n = 0, nlen;

	s     = sf_nz(s);
	slash = strchr(s, '/');
	name  = s;
	if (slash != NULL) {
		size_t plen = (size_t) (slash - s);
		if (strchr(slash + 1, '/') != NULL) {
			msgs[n++] = msg_qname;
			return (n);
		}
		if (plen == 0) {
			msgs[n++] = "prefix part must be non-empty";
		} else {
			if (plen > 253) {
				msgs[n++] = "prefix part must be no more than "
				            "253 characters";
			}
			if (!subdomain_ok(s, plen)) {
				msgs[n++] = msg_prefix_1123_subdomain;
			}
		}
		name = slash + 1;
	}
	nlen = strlen(name);
	if (nlen == 0) {
		msgs[n++] = "name part must be non-empty";
	} else if (nlen > 63) {
		msgs[n++] = "name part must be no more than 63 characters";
	}
	if (!qname_part_ok(name, nlen)) {
		msgs[n++] = msg_qname_name;
	}
	return (n);
}

size_t
sf__model_label_value(const char *s, const char **msgs)
{
	size_t n = 0, len;

	s   = sf_nz(s);
	len = strlen(s);
	if (len > 63) {
		msgs[n++] = "must be no more than 63 characters";
	}
	if (len > 0 && !qname_part_ok(s, len)) {
		msgs[n++] = msg_label_value;
	}
	return (n);
}

size_t
sf__model_port_name(const char *s, const char **msgs)
{
	size_t n       = 0, len;
	bool   charset = true, letter = false;

	s   = sf_nz(s);
	len = strlen(s);
	if (len > 15) {
		msgs[n++] = "must be no more than 15 characters";
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-') {
			charset = false;
		}
		if (s[i] >= 'a' && s[i] <= 'z') {
			letter = true;
		}
	}
	if (len == 0 || !charset) {
		msgs[n++] = "must contain only alpha-numeric characters (a-z, "
		            "0-9), and hyphens (-)";
	}
	if (!letter) {
		msgs[n++] = "must contain at least one letter (a-z)";
	}
	if (strstr(s, "--") != NULL) {
		msgs[n++] = "must not contain consecutive hyphens";
	}
	if (len > 0 && (s[0] == '-' || s[len - 1] == '-')) {
		msgs[n++] = "must not begin or end with a hyphen";
	}
	return (n);
}

const char *
sf_model_check_dns1123_label(const char *s)
{
	const char *m[SF__MODEL_MSGS_MAX];
	return (sf__model_dns1123_label(s, m) > 0 ? m[0] : NULL);
}

const char *
sf_model_check_dns1035_label(const char *s)
{
	const char *m[SF__MODEL_MSGS_MAX];
	return (sf__model_dns1035_label(s, m) > 0 ? m[0] : NULL);
}

const char *
sf_model_check_qualified_name(const char *s)
{
	const char *m[SF__MODEL_MSGS_MAX];
	return (sf__model_qualified_name(s, m) > 0 ? m[0] : NULL);
}

const char *
sf_model_check_label_value(const char *s)
{
	const char *m[SF__MODEL_MSGS_MAX];
	return (sf__model_label_value(s, m) > 0 ? m[0] : NULL);
}
