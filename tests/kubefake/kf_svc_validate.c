// kf_svc_validate.c: ValidateService and ValidateServiceUpdate, with the
// name and label syntax they share with other kinds (rules 23-49 of
// notes/k8s-service-rules.md; messages and field paths as upstream).
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"
#include "kf_svc.h"

#define MSG_DNS1035                                                          \
	"a DNS-1035 label must consist of lower case alphanumeric "          \
	"characters "                                                        \
	"or '-', start with an alphabetic character, and end with an "       \
	"alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used " \
	"for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define MSG_QNAME_PART                                                       \
	"name part must consist of alphanumeric characters, '-', '_' or "    \
	"'.', "                                                              \
	"and must start and end with an alphanumeric character (e.g. "       \
	"'MyName',  or 'my.name',  or '123-abc', regex used for validation " \
	"is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define MSG_QNAME                                                             \
	"a qualified name must consist of alphanumeric characters, '-', '_' " \
	"or '.', and must start and end with an alphanumeric character "      \
	"(e.g. "                                                              \
	"'MyName',  or 'my.name',  or '123-abc', regex used for validation "  \
	"is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional "    \
	"DNS "                                                                \
	"subdomain prefix and '/' (e.g. 'example.com/MyName')"
#define MSG_LABEL_VALUE                                                     \
	"a valid label must be an empty string or consist of alphanumeric " \
	"characters, '-', '_' or '.', and must start and end with an "      \
	"alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "      \
	"'12345', regex used for validation is "                            \
	"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
#define MSG_IP "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"

static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};
static const char *const types[]
    = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort", NULL};
static const char *const affinities[] = {"ClientIP", "None", NULL};
static const char *const policies[]   = {"Cluster", "Local", NULL};
static const char *const families[]   = {"IPv4", "IPv6", NULL};
static const char *const fampolicies[]
    = {"PreferDualStack", "RequireDualStack", "SingleStack", NULL};
static const char *const distributions[] = {"PreferClose", NULL};

// ---- name and label syntax ------------------------------------------------

static bool
is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
label_like(const char *s, size_t n, bool alpha_first)
{
	if (n == 0) {
		return false;
	}
	if (alpha_first ? !(s[0] >= 'a' && s[0] <= 'z')
	                : !is_alnum_lower(s[0])) {
		return false;
	}
	if (!is_alnum_lower(s[n - 1])) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum_lower(s[i]) && s[i] != '-') {
			return false;
		}
	}
	return true;
}

bool
kf_is_dns1123_label(const char *s)
{
	size_t n = strlen(s);
	return n <= 63 && label_like(s, n, false);
}

bool
kf_is_dns1123_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253) {
		return false;
	}
	const char *p = s;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t      l   = dot ? (size_t) (dot - p) : strlen(p);
		if (!label_like(p, l, false)) {
			return false;
		}
		if (dot == NULL) {
			return true;
		}
		p = dot + 1;
	}
}

static bool
qname_part(const char *s, size_t n)
{
	if (n == 0 || !isalnum((unsigned char) s[0])
	    || !isalnum((unsigned char) s[n - 1])) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!isalnum((unsigned char) c) && c != '-' && c != '_'
		    && c != '.') {
			return false;
		}
	}
	return true;
}

// qname_errors appends IsQualifiedName's messages for s to e as Invalid
// errors on field with bad value shown (value may differ from s).
static void
qname_errors(const char *s, const char *field, const char *value, kf_errs *e)
{
	const char *slash = strchr(s, '/');
	const char *name  = s;
	if (slash != NULL) {
		if (strchr(slash + 1, '/') != NULL) {
			kf_err_invalid_str(e, field, value, MSG_QNAME);
			return;
		}
		size_t plen = (size_t) (slash - s);
		name        = slash + 1;
		if (plen == 0) {
			kf_err_invalid_str(
			    e, field, value, "prefix part must be non-empty");
		} else {
			char *prefix = strndup(s, plen);
			if (!kf_is_dns1123_subdomain(prefix)) {
				if (plen > 253) {
					kf_err_invalid_str(e, field, value,
					    "prefix part must be no more than "
					    "253 "
					    "characters");
				} else {
					kf_err_invalid_str(e, field, value,
					    "prefix "
					    "part " MSG_DNS1123_SUBDOMAIN);
				}
			}
			free(prefix);
		}
	}
	size_t n = strlen(name);
	if (n == 0) {
		kf_err_invalid_str(
		    e, field, value, "name part must be non-empty");
	} else if (n > 63) {
		kf_err_invalid_str(e, field, value,
		    "name part must be no more than 63 characters");
	}
	if (n > 0 && !qname_part(name, n)) {
		kf_err_invalid_str(e, field, value, MSG_QNAME_PART);
	}
}

void
kf_validate_qualified_name(const char *s, const char *field, kf_errs *e)
{
	qname_errors(s, field, s, e);
}

void
kf_validate_labels(json_t *labels, const char *field, kf_errs *e)
{
	const char *k;
	json_t     *v;
	json_object_foreach(labels, k, v)
	{
		qname_errors(k, field, k, e);
		const char *val = json_string_value(v);
		if (val == NULL) {
			continue;
		}
		size_t n = strlen(val);
		if (n > 63) {
			kf_err_invalid_str(e, field, val,
			    "must be no more than 63 characters");
		}
		if (n > 0 && !qname_part(val, n)) {
			kf_err_invalid_str(e, field, val, MSG_LABEL_VALUE);
		}
	}
}

void
kf_validate_meta(json_t *obj, bool namespaced, bool dns1035, kf_errs *e)
{
	const char *name = kf_jstr(obj, "metadata.name");
	const char *gen  = kf_jstr(obj, "metadata.generateName");
	if (name == NULL || *name == '\0') {
		if (gen == NULL || *gen == '\0') {
			kf_err_required(e, "metadata.name",
			    "name or generateName is required");
		}
	} else {
		size_t n = strlen(name);
		if (n > 63) {
			kf_err_invalid_str(e, "metadata.name", name,
			    "must be no more than 63 characters");
		}
		if (!label_like(name, n, dns1035)) {
			kf_err_invalid_str(e, "metadata.name", name,
			    dns1035 ? MSG_DNS1035 : MSG_DNS1123_LABEL);
		}
	}
	if (namespaced) {
		const char *ns = kf_jstr(obj, "metadata.namespace");
		if (ns == NULL || *ns == '\0') {
			kf_err_required(e, "metadata.namespace", "");
		}
	}
	json_t *labels = kf_jget(obj, "metadata.labels");
	if (json_is_object(labels)) {
		kf_validate_labels(labels, "metadata.labels", e);
	}
	json_t *ann = kf_jget(obj, "metadata.annotations");
	if (json_is_object(ann)) {
		size_t      total = 0;
		const char *k;
		json_t     *v;
		json_object_foreach(ann, k, v)
		{
			char *lower = strdup(k);
			for (char *p = lower; *p; p++) {
				*p = (char) tolower((unsigned char) *p);
			}
			qname_errors(lower, "metadata.annotations", k, e);
			free(lower);
			total += strlen(k) + json_string_length(v);
		}
		if (total > 262144) {
			kf_err_toolong(e, "metadata.annotations", 262144);
		}
	}
}

// ---- validation (rules 23-49) -------------------------------------------

static void
validate_port_name_or_num(json_t *tp, const char *field, kf_errs *e)
{
	if (json_is_integer(tp)) {
		long long v = json_integer_value(tp);
		if (v < 1 || v > 65535) {
			kf_err_invalid_int(e, field, v,
			    "must be between 1 and 65535, inclusive");
		}
		return;
	}
	const char *s = json_string_value(tp);
	if (s == NULL) {
		return;
	}
	size_t n = strlen(s);
	if (n > 15) {
		kf_err_invalid_str(
		    e, field, s, "must be no more than 15 characters");
	}
	bool charset = n > 0, letter = false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum_lower(s[i]) && s[i] != '-') {
			charset = false;
		}
		if (s[i] >= 'a' && s[i] <= 'z') {
			letter = true;
		}
	}
	if (!charset) {
		kf_err_invalid_str(e, field, s,
		    "must contain only alpha-numeric characters (a-z, 0-9), "
		    "and "
		    "hyphens (-)");
	}
	if (!letter) {
		kf_err_invalid_str(
		    e, field, s, "must contain at least one letter (a-z)");
	}
	if (strstr(s, "--")) {
		kf_err_invalid_str(
		    e, field, s, "must not contain consecutive hyphens");
	}
	if (n > 0 && (s[0] == '-' || s[n - 1] == '-')) {
		kf_err_invalid_str(
		    e, field, s, "must not begin or end with a hyphen");
	}
}

// validate_cluster_ips is ValidateServiceClusterIPsRelatedFields (rule 37-39).
void
kf__validate_cluster_ips(json_t *svc, kf_errs *e)
{
	if (kf__is_type(svc, "ExternalName")) {
		return;
	}
	const char *ip   = kf_jstr(svc, "spec.clusterIP");
	json_t     *ips  = kf_jget(svc, "spec.clusterIPs");
	size_t      n    = json_array_size(ips);
	json_t     *none = json_array();
	char       *gs   = kf__go_strings(ips ? ips : none);
	json_decref(none);
	if (ip && *ip) {
		const char *ip0 = json_string_value(json_array_get(ips, 0));
		if (n == 0) {
			kf_err_required(e, "spec.clusterIPs", "");
		} else if (ip0 == NULL || strcmp(ip0, ip) != 0) {
			kf_err_invalid(e, "spec.clusterIPs", gs,
			    "first value must match `clusterIP`");
		}
	} else if (n != 0) {
		kf_err_invalid(e, "spec.clusterIPs", gs,
		    "must be empty when `clusterIP` is not specified");
	}
	json_t *fams = kf_jget(svc, "spec.ipFamilies");
	size_t  i;
	json_t *f;
	json_array_foreach(fams, i, f)
	{
		char        field[64];
		const char *fv
		    = json_string_value(f) ? json_string_value(f) : "";
		snprintf(field, sizeof(field), "spec.ipFamilies[%zu]", i);
		if (strcmp(fv, "IPv4") != 0 && strcmp(fv, "IPv6") != 0) {
			kf_err_notsupported(e, field, fv, families);
		}
		for (size_t j = 0; j < i; j++) {
			const char *pv
			    = json_string_value(json_array_get(fams, j));
			if (pv && strcmp(pv, fv) == 0) {
				char *q = kf_goquote(fv);
				kf_err_duplicate(e, field, q);
				free(q);
				break;
			}
		}
	}
	const char *pol = kf_jstr(svc, "spec.ipFamilyPolicy");
	if (kf_jget(svc, "spec.ipFamilyPolicy") && pol
	    && strcmp(pol, "SingleStack") != 0
	    && strcmp(pol, "PreferDualStack") != 0
	    && strcmp(pol, "RequireDualStack") != 0) {
		kf_err_notsupported(
		    e, "spec.ipFamilyPolicy", pol, fampolicies);
	}
	bool invalid = false;
	json_array_foreach(ips, i, f)
	{
		const char *v
		    = json_string_value(f) ? json_string_value(f) : "";
		if (i == 0 && strcmp(v, "None") == 0) {
			if (n > 1) {
				invalid = true;
				kf_err_invalid(e, "spec.clusterIPs", gs,
				    "'None' must be the first and only value");
			}
			continue;
		}
		if (!kf_ip_valid(v)) {
			char field[64];
			snprintf(
			    field, sizeof(field), "spec.clusterIPs[%zu]", i);
			kf_err_invalid_str(e, field, v, MSG_IP);
			invalid = true;
		}
	}
	if (n > 2) {
		kf_err_invalid(
		    e, "spec.clusterIPs", gs, "may only hold up to 2 values");
	}
	if (!invalid) {
		if (n > 1) {
			const char *a
			    = json_string_value(json_array_get(ips, 0));
			const char *b
			    = json_string_value(json_array_get(ips, 1));
			if (n > 2 || kf__is_ipv6(a) == kf__is_ipv6(b)) {
				kf_err_invalid(e, "spec.clusterIPs", gs,
				    "may specify no more than one IP for each "
				    "IP family");
			}
		}
		if (!kf__is_headless(svc) && n > 0) {
			json_array_foreach(ips, i, f)
			{
				const char *fam = json_string_value(
				    json_array_get(fams, i));
				const char *v = json_string_value(f);
				if (fam == NULL || v == NULL) {
					break;
				}
				char field[64];
				snprintf(field, sizeof(field),
				    "spec.clusterIPs[%zu]", i);
				char det[96];
				if (strcmp(fam, "IPv4") == 0
				    && kf__is_ipv6(v)) {
					snprintf(det, sizeof(det),
					    "expected an IPv4 value as "
					    "indicated by "
					    "`ipFamilies[%zu]`",
					    i);
					kf_err_invalid_str(e, field, v, det);
				} else if (strcmp(fam, "IPv6") == 0
				    && !kf__is_ipv6(v)) {
					snprintf(det, sizeof(det),
					    "expected an IPv6 value as "
					    "indicated by "
					    "`ipFamilies[%zu]`",
					    i);
					kf_err_invalid_str(e, field, v, det);
				}
			}
		}
	}
	free(gs);
}

static bool
in_list(const char *v, const char *const *list)
{
	for (int i = 0; list[i]; i++) {
		if (strcmp(list[i], v) == 0) {
			return true;
		}
	}
	return false;
}

static void
validate_non_special_ip(const char *ip, const char *field, kf_errs *e)
{
	uint32_t      v4;
	unsigned char b[16];
	if (kf_ip4_parse(ip, &v4) == 0) {
		if (v4 == 0) {
			kf_err_invalid_str(
			    e, field, ip, "may not be unspecified (0.0.0.0)");
		} else if ((v4 >> 24) == 127) {
			kf_err_invalid_str(e, field, ip,
			    "may not be in the loopback range (127.0.0.0/8, "
			    "::1/128)");
		} else if ((v4 >> 16) == 0xa9fe) {
			kf_err_invalid_str(e, field, ip,
			    "may not be in the link-local range "
			    "(169.254.0.0/16, "
			    "fe80::/10)");
		} else if ((v4 >> 8) == 0xe00000) {
			kf_err_invalid_str(e, field, ip,
			    "may not be in the link-local multicast range "
			    "(224.0.0.0/24, ff02::/10)");
		}
	} else if (inet_pton(AF_INET6, ip, b) == 1) {
		static const unsigned char zero[16];
		if (memcmp(b, zero, 16) == 0) {
			kf_err_invalid_str(
			    e, field, ip, "may not be unspecified (::)");
		} else if (memcmp(b, zero, 15) == 0 && b[15] == 1) {
			kf_err_invalid_str(e, field, ip,
			    "may not be in the loopback range (127.0.0.0/8, "
			    "::1/128)");
		} else if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
			kf_err_invalid_str(e, field, ip,
			    "may not be in the link-local range "
			    "(169.254.0.0/16, "
			    "fe80::/10)");
		}
	}
}

void
kf__validate_service(json_t *svc, kf_errs *e)
{
	kf_validate_meta(svc, true, true, e);
	json_t     *ann  = kf_jget(svc, "metadata.annotations");
	const char *mode = kf_jkey(ann, "service.kubernetes.io/topology-mode");
	const char *hints
	    = kf_jkey(ann, "service.kubernetes.io/topology-aware-hints");
	if (ann && mode && hints && strcmp(mode, hints) != 0) {
		kf_err_invalid_str(e,
		    "metadata.annotations[service.kubernetes.io/"
		    "topology-mode]",
		    mode,
		    "must match annotations[service.kubernetes.io/"
		    "topology-aware-hints] when both are specified");
	}
	json_t *p        = kf__ports(svc);
	size_t  np       = json_array_size(p);
	bool    headless = kf__is_headless(svc);
	if (np == 0 && !headless && !kf__is_type(svc, "ExternalName")) {
		kf_err_required(e, "spec.ports", "");
	}
	json_t     *ips = kf_jget(svc, "spec.clusterIPs");
	const char *ip0 = json_string_value(json_array_get(ips, 0));
	if (kf__is_type(svc, "LoadBalancer")) {
		if (headless) {
			kf_err_invalid_str(e, "spec.clusterIPs[0]",
			    ip0 ? ip0 : "None",
			    "may not be set to 'None' for LoadBalancer "
			    "services");
		}
		size_t  i;
		json_t *port;
		json_array_foreach(p, i, port)
		{
			if (kf__jint(port, "port") == 10250) {
				char field[64];
				snprintf(field, sizeof(field),
				    "spec.ports[%zu]", i);
				kf_err_invalid_int(e, field, 10250,
				    "may not expose port 10250 externally "
				    "since it is "
				    "used by kubelet");
			}
		}
	} else if (kf__is_type(svc, "NodePort")) {
		if (headless) {
			kf_err_invalid_str(e, "spec.clusterIPs[0]",
			    ip0 ? ip0 : "None",
			    "may not be set to 'None' for NodePort services");
		}
	} else if (kf__is_type(svc, "ExternalName")) {
		if (json_array_size(ips) > 0) {
			kf_err_forbidden(e, "spec.clusterIPs",
			    "may not be set for ExternalName services");
		}
		if (json_array_size(kf_jget(svc, "spec.ipFamilies")) > 0) {
			kf_err_forbidden(e, "spec.ipFamilies",
			    "may not be set for ExternalName services");
		}
		if (kf_jget(svc, "spec.ipFamilyPolicy")) {
			kf_err_forbidden(e, "spec.ipFamilyPolicy",
			    "may not be set for ExternalName services");
		}
		const char *en    = kf_jstr(svc, "spec.externalName");
		char       *cname = strdup(en ? en : "");
		size_t      cl    = strlen(cname);
		if (cl > 0 && cname[cl - 1] == '.') {
			cname[--cl] = '\0';
		}
		if (cl == 0) {
			kf_err_required(e, "spec.externalName", "");
		} else {
			if (cl > 253) {
				kf_err_invalid_str(e, "spec.externalName",
				    cname,
				    "must be no more than 253 characters");
			}
			if (!kf_is_dns1123_subdomain(cname)) {
				kf_err_invalid_str(e, "spec.externalName",
				    cname, MSG_DNS1123_SUBDOMAIN);
			}
		}
		free(cname);
	}
	size_t  i;
	json_t *port;
	json_array_foreach(p, i, port)
	{
		char        base[48], field[80];
		const char *name = kf_jstr(port, "name");
		snprintf(base, sizeof(base), "spec.ports[%zu]", i);
		snprintf(field, sizeof(field), "%s.name", base);
		if (np > 1 && (name == NULL || *name == '\0')) {
			kf_err_required(e, field, "");
		} else if (name && *name) {
			size_t n = strlen(name);
			if (n > 63) {
				kf_err_invalid_str(e, field, name,
				    "must be no more than 63 characters");
			}
			if (!label_like(name, n, false)) {
				kf_err_invalid_str(
				    e, field, name, MSG_DNS1123_LABEL);
			}
			for (size_t j = 0; j < i; j++) {
				const char *o
				    = kf_jstr(json_array_get(p, j), "name");
				if (o && strcmp(o, name) == 0) {
					char *q = kf_goquote(name);
					kf_err_duplicate(e, field, q);
					free(q);
					break;
				}
			}
		}
		long long pn = kf__jint(port, "port");
		if (pn < 1 || pn > 65535) {
			snprintf(field, sizeof(field), "%s.port", base);
			kf_err_invalid_int(e, field, pn,
			    "must be between 1 and 65535, inclusive");
		}
		const char *proto = kf_jstr(port, "protocol");
		snprintf(field, sizeof(field), "%s.protocol", base);
		if (proto == NULL || *proto == '\0') {
			kf_err_required(e, field, "");
		} else if (!in_list(proto, protocols)) {
			kf_err_notsupported(e, field, proto, protocols);
		}
		snprintf(field, sizeof(field), "%s.targetPort", base);
		validate_port_name_or_num(
		    json_object_get(port, "targetPort"), field, e);
		const char *app = kf_jstr(port, "appProtocol");
		if (app) {
			snprintf(field, sizeof(field), "%s.appProtocol", base);
			kf_validate_qualified_name(app, field, e);
		}
	}
	json_t *sel = kf_jget(svc, "spec.selector");
	if (json_is_object(sel)) {
		kf_validate_labels(sel, "spec.selector", e);
	}
	const char *aff = kf_jstr(svc, "spec.sessionAffinity");
	if (aff == NULL || *aff == '\0') {
		kf_err_required(e, "spec.sessionAffinity", "");
	} else if (!in_list(aff, affinities)) {
		kf_err_notsupported(
		    e, "spec.sessionAffinity", aff, affinities);
	}
	json_t *cfg = kf_jget(svc, "spec.sessionAffinityConfig");
	if (aff && strcmp(aff, "ClientIP") == 0) {
		const char *det = "when session affinity type is ClientIP";
		json_t     *to  = kf_jget(cfg, "clientIP.timeoutSeconds");
		if (cfg == NULL) {
			kf_err_required(e, "spec.sessionAffinityConfig", det);
		} else if (kf_jget(cfg, "clientIP") == NULL) {
			kf_err_required(
			    e, "spec.sessionAffinityConfig.clientIP", det);
		} else if (to == NULL) {
			kf_err_required(e,
			    "spec.sessionAffinityConfig.clientIP."
			    "timeoutSeconds",
			    det);
		} else {
			long long t = json_integer_value(to);
			if (t <= 0 || t > 86400) {
				kf_err_invalid_int(e,
				    "spec.sessionAffinityConfig.clientIP."
				    "timeoutSeconds",
				    t,
				    "must be greater than 0 and less than "
				    "86400");
			}
		}
	} else if (aff && strcmp(aff, "None") == 0 && cfg != NULL) {
		kf_err_forbidden(e, "spec.sessionAffinityConfig",
		    "must not be set when session affinity is None");
	}
	kf__validate_cluster_ips(svc, e);
	json_t *ext = kf_jget(svc, "spec.externalIPs");
	json_array_foreach(ext, i, port)
	{
		char        field[64];
		const char *v
		    = json_string_value(port) ? json_string_value(port) : "";
		snprintf(field, sizeof(field), "spec.externalIPs[%zu]", i);
		if (!kf_ip_valid(v)) {
			kf_err_invalid_str(e, field, v, MSG_IP);
		} else {
			validate_non_special_ip(v, field, e);
		}
	}
	const char *t = kf__stype(svc);
	if (*t == '\0') {
		kf_err_required(e, "spec.type", "");
	} else if (!in_list(t, types)) {
		kf_err_notsupported(e, "spec.type", t, types);
	}
	if (kf__is_type(svc, "ClusterIP")) {
		json_array_foreach(p, i, port)
		{
			if (kf__jint(port, "nodePort") != 0) {
				char field[64];
				snprintf(field, sizeof(field),
				    "spec.ports[%zu].nodePort", i);
				kf_err_forbidden(e, field,
				    "may not be used when `type` is "
				    "'ClusterIP'");
			}
		}
	}
	// Duplicate (protocol, nodePort) and (protocol, port) pairs.
	json_array_foreach(p, i, port)
	{
		long long   npt   = kf__jint(port, "nodePort");
		const char *proto = kf_jstr(port, "protocol");
		proto             = proto ? proto : "";
		for (size_t j = 0; npt != 0 && j < i; j++) {
			json_t     *o  = json_array_get(p, j);
			const char *op = kf_jstr(o, "protocol");
			if (kf__jint(o, "nodePort") == npt
			    && strcmp(op ? op : "", proto) == 0) {
				char field[64], v[32];
				snprintf(field, sizeof(field),
				    "spec.ports[%zu].nodePort", i);
				snprintf(v, sizeof(v), "%lld", npt);
				kf_err_duplicate(e, field, v);
				break;
			}
		}
	}
	json_array_foreach(p, i, port)
	{
		long long   pn    = kf__jint(port, "port");
		const char *proto = kf_jstr(port, "protocol");
		proto             = proto ? proto : "";
		for (size_t j = 0; j < i; j++) {
			json_t     *o  = json_array_get(p, j);
			const char *op = kf_jstr(o, "protocol");
			if (kf__jint(o, "port") == pn
			    && strcmp(op ? op : "", proto) == 0) {
				char field[64], v[320];
				snprintf(field, sizeof(field),
				    "spec.ports[%zu]", i);
				snprintf(v, sizeof(v),
				    "core.ServicePort{Name:\"\", "
				    "Protocol:\"%s\", "
				    "AppProtocol:(*string)(nil), Port:%lld, "
				    "TargetPort:intstr.IntOrString{Type:0, "
				    "IntVal:0, "
				    "StrVal:\"\"}, NodePort:0}",
				    proto, pn);
				kf_err_duplicate(e, field, v);
				break;
			}
		}
	}
	// Source ranges (rule 41).
	json_t     *ranges = kf_jget(svc, "spec.loadBalancerSourceRanges");
	const char *ranno  = kf_jkey(
	     ann, "service.beta.kubernetes.io/load-balancer-source-ranges");
	if (json_array_size(ranges) > 0 || ranno) {
		bool        from_spec = json_array_size(ranges) > 0;
		const char *fp        = from_spec
		           ? "spec.LoadBalancerSourceRanges"
		           : "metadata.annotations[service.beta.kubernetes.io/"
		             "load-balancer-source-ranges]";
		if (!kf__is_type(svc, "LoadBalancer")) {
			kf_err_forbidden(e, fp,
			    "may only be used when `type` is 'LoadBalancer'");
		}
		if (from_spec) {
			json_array_foreach(ranges, i, port)
			{
				const char *v    = json_string_value(port)
				       ? json_string_value(port)
				       : "";
				char       *trim = strdup(v), *s = trim;
				while (*s == ' ') {
					s++;
				}
				size_t l = strlen(s);
				while (l > 0 && s[l - 1] == ' ') {
					s[--l] = '\0';
				}
				if (!kf_cidr_valid(s)) {
					char field[80];
					snprintf(field, sizeof(field),
					    "spec.loadBalancerSourceRanges[%"
					    "zu]",
					    i);
					kf_err_invalid_str(e, field, v,
					    "must be a valid CIDR value, "
					    "(e.g. 10.9.8.0/24 or "
					    "2001:db8::/64)");
				}
				free(trim);
			}
		} else {
			char *copy = strdup(ranno), *save = NULL;
			for (char *tok = strtok_r(copy, ",", &save); tok;
			     tok       = strtok_r(NULL, ",", &save)) {
				while (*tok == ' ') {
					tok++;
				}
				size_t l = strlen(tok);
				while (l > 0 && tok[l - 1] == ' ') {
					tok[--l] = '\0';
				}
				if (!kf_cidr_valid(tok)) {
					kf_err_invalid_str(e, fp, ranno,
					    "must be a valid CIDR value, "
					    "(e.g. 10.9.8.0/24 or "
					    "2001:db8::/64)");
					break;
				}
			}
			free(copy);
		}
	}
	json_t *alnp = kf_jget(svc, "spec.allocateLoadBalancerNodePorts");
	if (alnp && !kf__is_type(svc, "LoadBalancer")) {
		kf_err_forbidden(e, "spec.allocateLoadBalancerNodePorts",
		    "may only be used when `type` is 'LoadBalancer'");
	}
	if (kf__is_type(svc, "LoadBalancer") && alnp == NULL) {
		kf_err_required(e, "allocateLoadBalancerNodePorts", "");
	}
	json_t *lbc = kf_jget(svc, "spec.loadBalancerClass");
	if (lbc) {
		if (kf__is_type(svc, "LoadBalancer")) {
			kf_validate_qualified_name(json_string_value(lbc)
			        ? json_string_value(lbc)
			        : "",
			    "spec.loadBalancerClass", e);
		} else {
			kf_err_forbidden(e, "spec.loadBalancerClass",
			    "may only be used when `type` is 'LoadBalancer'");
		}
	}
	const char *etp = kf_jstr(svc, "spec.externalTrafficPolicy");
	if (!kf__externally_accessible(svc)) {
		if (etp && *etp) {
			kf_err_invalid_str(e, "spec.externalTrafficPolicy",
			    etp,
			    "may only be set for externally-accessible "
			    "services");
		}
	} else if (etp == NULL || *etp == '\0') {
		kf_err_required(e, "spec.externalTrafficPolicy", "");
	} else if (!in_list(etp, policies)) {
		kf_err_notsupported(
		    e, "spec.externalTrafficPolicy", etp, policies);
	}
	long long hc = kf__jint(kf_jget(svc, "spec"), "healthCheckNodePort");
	if (!kf__needs_hc_node_port(svc)) {
		if (hc != 0) {
			kf_err_invalid_int(e, "spec.healthCheckNodePort", hc,
			    "may only be set when `type` is 'LoadBalancer' "
			    "and "
			    "`externalTrafficPolicy` is 'Local'");
		}
	} else if (hc == 0) {
		kf_err_required(e, "spec.healthCheckNodePort", "");
	} else if (hc < 1 || hc > 65535) {
		kf_err_invalid_int(e, "spec.healthCheckNodePort", hc,
		    "must be between 1 and 65535, inclusive");
	}
	if (!kf__is_type(svc, "ExternalName")) {
		const char *itp = kf_jstr(svc, "spec.internalTrafficPolicy");
		if (kf_jget(svc, "spec.internalTrafficPolicy") == NULL) {
			if (kf__is_type(svc, "NodePort")
			    || kf__is_type(svc, "LoadBalancer")
			    || kf__is_type(svc, "ClusterIP")) {
				kf_err_required(
				    e, "spec.internalTrafficPolicy", "");
			}
		} else if (itp == NULL || !in_list(itp, policies)) {
			kf_err_notsupported(e, "spec.internalTrafficPolicy",
			    itp ? itp : "", policies);
		}
	}
	const char *td = kf_jstr(svc, "spec.trafficDistribution");
	if (kf_jget(svc, "spec.trafficDistribution")
	    && (td == NULL || !in_list(td, distributions))) {
		kf_err_notsupported(e, "spec.trafficDistribution",
		    td ? td : "", distributions);
	}
}

void
kf__validate_update(json_t *svc, json_t *old, kf_errs *e)
{
	if (!kf__is_type(old, "ExternalName")
	    && !kf__is_type(svc, "ExternalName")
	    && !(kf__is_headless(old) && kf__is_headless(svc))) {
		json_t *oips = kf_jget(old, "spec.clusterIPs");
		json_t *nips = kf_jget(svc, "spec.clusterIPs");
		char   *gs   = kf__go_strings(nips ? nips : oips);
		size_t  i;
		json_t *v;
		json_array_foreach(oips, i, v)
		{
			json_t *nv = json_array_get(nips, i);
			if (nv && !json_equal(nv, v)) {
				char field[48];
				snprintf(field, sizeof(field),
				    "spec.clusterIPs[%zu]", i);
				kf_err_invalid(
				    e, field, gs, "may not change once set");
			}
		}
		if (json_array_size(oips) > 0 && json_array_size(nips) == 0) {
			kf_err_invalid(e, "spec.clusterIPs[0]",
			    "[]string(nil)",
			    "primary clusterIP can not be unset");
		}
		free(gs);
		json_t *ofam = kf_jget(old, "spec.ipFamilies");
		json_t *nfam = kf_jget(svc, "spec.ipFamilies");
		json_array_foreach(ofam, i, v)
		{
			json_t *nv = json_array_get(nfam, i);
			if (nv && !json_equal(nv, v)) {
				char field[48];
				snprintf(field, sizeof(field),
				    "spec.ipFamilies[%zu]", i);
				char *q = kf_goquote(json_string_value(nv)
				        ? json_string_value(nv)
				        : "");
				kf_err_invalid(
				    e, field, q, "may not change once set");
				free(q);
			}
		}
		if (json_array_size(ofam) > 0 && json_array_size(nfam) == 0) {
			kf_err_invalid(e, "spec.ipFamilies[0]",
			    "[]core.IPFamily(nil)",
			    "primary ipFamily can not be unset");
		}
	}
	if (kf__is_type(old, "LoadBalancer")
	    && kf__is_type(svc, "LoadBalancer")
	    && !kf__same_json(kf_jget(old, "spec.loadBalancerClass"),
	        kf_jget(svc, "spec.loadBalancerClass"))) {
		json_t *c = kf_jget(svc, "spec.loadBalancerClass");
		char   *q
		    = c ? kf_goquote(json_string_value(c)) : strdup("null");
		kf_err_invalid(
		    e, "spec.loadBalancerClass", q, "may not change once set");
		free(q);
	}
	if (kf__needs_hc_node_port(old) && kf__needs_hc_node_port(svc)
	    && kf__jint(kf_jget(old, "spec"), "healthCheckNodePort")
	        != kf__jint(kf_jget(svc, "spec"), "healthCheckNodePort")) {
		kf_err_forbidden(
		    e, "spec.healthCheckNodePort", "field is immutable");
	}
	kf__validate_service(svc, e);
}
