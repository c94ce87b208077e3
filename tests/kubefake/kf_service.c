// kf_service.c: core/v1 Service semantics — SetDefaults_Service, the
// registry's allocation (cluster IPs, node ports, health-check node port),
// ValidateService / ValidateServiceUpdate and the update rules
// (patchAllocatedValues, dropTypeDependentFields). Messages and field paths
// follow notes/k8s-service-rules.md; rule numbers refer to it.
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf.h"

#define MSG_DNS1035                                                          \
	"a DNS-1035 label must consist of lower case alphanumeric "          \
	"characters "                                                        \
	"or '-', start with an alphabetic character, and end with an "       \
	"alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used " \
	"for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define MSG_DNS1123_LABEL                                                     \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric " \
	"characters or '-', and must start and end with an alphanumeric "     \
	"character (e.g. 'my-name',  or '123-abc', regex used for "           \
	"validation "                                                         \
	"is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define MSG_DNS1123_SUBDOMAIN                                               \
	"a lowercase RFC 1123 subdomain must consist of lower case "        \
	"alphanumeric characters, '-' or '.', and must start and end with " \
	"an "                                                               \
	"alphanumeric character (e.g. 'example.com', regex used for "       \
	"validation is "                                                    \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
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

// ---- helpers over the JSON Service
// -------------------------------------------

static const char *
stype(json_t *svc)
{
	const char *t = kf_jstr(svc, "spec.type");
	return t ? t : "";
}

static bool
is_type(json_t *svc, const char *t)
{
	return strcmp(stype(svc), t) == 0;
}

static bool
is_headless(json_t *svc)
{
	json_t *ips = kf_jget(svc, "spec.clusterIPs");
	if (json_array_size(ips) > 0) {
		const char *ip0 = json_string_value(json_array_get(ips, 0));
		return ip0 && strcmp(ip0, "None") == 0;
	}
	const char *ip = kf_jstr(svc, "spec.clusterIP");
	return ip && strcmp(ip, "None") == 0;
}

static bool
needs_cluster_ip(json_t *svc)
{
	return !is_type(svc, "ExternalName");
}

static bool
alloc_lb_nodeports(json_t *svc)
{
	json_t *a = kf_jget(svc, "spec.allocateLoadBalancerNodePorts");
	return a == NULL || json_is_true(a);
}

static bool
needs_node_port(json_t *svc)
{
	return is_type(svc, "NodePort")
	    || (is_type(svc, "LoadBalancer") && alloc_lb_nodeports(svc));
}

static bool
externally_accessible(json_t *svc)
{
	return is_type(svc, "LoadBalancer") || is_type(svc, "NodePort")
	    || (is_type(svc, "ClusterIP")
	        && json_array_size(kf_jget(svc, "spec.externalIPs")) > 0);
}

static bool
needs_hc_node_port(json_t *svc)
{
	const char *etp = kf_jstr(svc, "spec.externalTrafficPolicy");
	return is_type(svc, "LoadBalancer") && etp
	    && strcmp(etp, "Local") == 0;
}

static long long
jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static json_t *
ports(json_t *svc)
{
	json_t *p = kf_jget(svc, "spec.ports");
	return json_is_array(p) ? p : NULL;
}

// go_strings renders a []string like Go's %#v.
static char *
go_strings(json_t *arr)
{
	sf_buf b = SF_BUF_INIT;
	sf_buf_puts(&b, "[]string{");
	size_t  i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		char *q = kf_goquote(
		    json_is_string(v) ? json_string_value(v) : "");
		sf_buf_printf(&b, "%s%s", i ? ", " : "", q);
		free(q);
	}
	sf_buf_putc(&b, '}');
	return sf_buf_take(&b);
}

static bool
is_ipv6(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET6, s, b) == 1;
}

// ---- defaults (rule 14-21)
// ----------------------------------------------------

void
kf_service_default(json_t *svc)
{
	json_t *spec = kf_jobj(svc, "spec");
	if (stype(svc)[0] == '\0') {
		json_object_set_new(spec, "type", json_string("ClusterIP"));
	}
	const char *aff = kf_jstr(spec, "sessionAffinity");
	if (aff == NULL || *aff == '\0') {
		json_object_set_new(
		    spec, "sessionAffinity", json_string("None"));
		aff = "None";
	}
	if (strcmp(aff, "None") == 0) {
		json_object_del(spec, "sessionAffinityConfig");
	} else if (strcmp(aff, "ClientIP") == 0
	    && kf_jget(spec, "sessionAffinityConfig.clientIP.timeoutSeconds")
	        == NULL) {
		json_t *cfg = json_pack(
		    "{s:{s:i}}", "clientIP", "timeoutSeconds", 10800);
		json_object_set_new(spec, "sessionAffinityConfig", cfg);
	}
	json_t *p = ports(svc);
	size_t  i;
	json_t *port;
	json_array_foreach(p, i, port)
	{
		const char *proto = kf_jstr(port, "protocol");
		if (proto == NULL || *proto == '\0') {
			json_object_set_new(
			    port, "protocol", json_string("TCP"));
		}
		json_t *tp = json_object_get(port, "targetPort");
		if (tp == NULL
		    || (json_is_integer(tp) && json_integer_value(tp) == 0)
		    || (json_is_string(tp) && json_string_length(tp) == 0)) {
			json_object_set_new(port, "targetPort",
			    json_integer(jint(port, "port")));
		}
	}
	const char *etp = kf_jstr(spec, "externalTrafficPolicy");
	if ((etp == NULL || *etp == '\0') && externally_accessible(svc)) {
		json_object_set_new(
		    spec, "externalTrafficPolicy", json_string("Cluster"));
	}
	if (json_object_get(spec, "internalTrafficPolicy") == NULL
	    && (is_type(svc, "ClusterIP") || is_type(svc, "NodePort")
	        || is_type(svc, "LoadBalancer"))) {
		json_object_set_new(
		    spec, "internalTrafficPolicy", json_string("Cluster"));
	}
	if (is_type(svc, "LoadBalancer")
	    && json_object_get(spec, "allocateLoadBalancerNodePorts")
	        == NULL) {
		json_object_set_new(
		    spec, "allocateLoadBalancerNodePorts", json_true());
	}
	json_t *ing = kf_jget(svc, "status.loadBalancer.ingress");
	json_array_foreach(ing, i, port)
	{
		if (kf_jstr(port, "ip")
		    && json_object_get(port, "ipMode") == NULL) {
			json_object_set_new(
			    port, "ipMode", json_string("VIP"));
		}
	}
}

// ---- validation (rules 23-49)
// -------------------------------------------------

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
static void
validate_cluster_ips(json_t *svc, kf_errs *e)
{
	if (is_type(svc, "ExternalName")) {
		return;
	}
	const char *ip   = kf_jstr(svc, "spec.clusterIP");
	json_t     *ips  = kf_jget(svc, "spec.clusterIPs");
	size_t      n    = json_array_size(ips);
	json_t     *none = json_array();
	char       *gs   = go_strings(ips ? ips : none);
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
			if (n > 2 || is_ipv6(a) == is_ipv6(b)) {
				kf_err_invalid(e, "spec.clusterIPs", gs,
				    "may specify no more than one IP for each "
				    "IP family");
			}
		}
		if (!is_headless(svc) && n > 0) {
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
				if (strcmp(fam, "IPv4") == 0 && is_ipv6(v)) {
					snprintf(det, sizeof(det),
					    "expected an IPv4 value as "
					    "indicated by "
					    "`ipFamilies[%zu]`",
					    i);
					kf_err_invalid_str(e, field, v, det);
				} else if (strcmp(fam, "IPv6") == 0
				    && !is_ipv6(v)) {
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

static void
validate_service(json_t *svc, kf_errs *e)
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
	json_t *p        = ports(svc);
	size_t  np       = json_array_size(p);
	bool    headless = is_headless(svc);
	if (np == 0 && !headless && !is_type(svc, "ExternalName")) {
		kf_err_required(e, "spec.ports", "");
	}
	json_t     *ips = kf_jget(svc, "spec.clusterIPs");
	const char *ip0 = json_string_value(json_array_get(ips, 0));
	if (is_type(svc, "LoadBalancer")) {
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
			if (jint(port, "port") == 10250) {
				char field[64];
				snprintf(field, sizeof(field),
				    "spec.ports[%zu]", i);
				kf_err_invalid_int(e, field, 10250,
				    "may not expose port 10250 externally "
				    "since it is "
				    "used by kubelet");
			}
		}
	} else if (is_type(svc, "NodePort")) {
		if (headless) {
			kf_err_invalid_str(e, "spec.clusterIPs[0]",
			    ip0 ? ip0 : "None",
			    "may not be set to 'None' for NodePort services");
		}
	} else if (is_type(svc, "ExternalName")) {
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
		long long pn = jint(port, "port");
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
	validate_cluster_ips(svc, e);
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
	const char *t = stype(svc);
	if (*t == '\0') {
		kf_err_required(e, "spec.type", "");
	} else if (!in_list(t, types)) {
		kf_err_notsupported(e, "spec.type", t, types);
	}
	if (is_type(svc, "ClusterIP")) {
		json_array_foreach(p, i, port)
		{
			if (jint(port, "nodePort") != 0) {
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
		long long   npt   = jint(port, "nodePort");
		const char *proto = kf_jstr(port, "protocol");
		proto             = proto ? proto : "";
		for (size_t j = 0; npt != 0 && j < i; j++) {
			json_t     *o  = json_array_get(p, j);
			const char *op = kf_jstr(o, "protocol");
			if (jint(o, "nodePort") == npt
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
		long long   pn    = jint(port, "port");
		const char *proto = kf_jstr(port, "protocol");
		proto             = proto ? proto : "";
		for (size_t j = 0; j < i; j++) {
			json_t     *o  = json_array_get(p, j);
			const char *op = kf_jstr(o, "protocol");
			if (jint(o, "port") == pn
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
		if (!is_type(svc, "LoadBalancer")) {
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
	if (alnp && !is_type(svc, "LoadBalancer")) {
		kf_err_forbidden(e, "spec.allocateLoadBalancerNodePorts",
		    "may only be used when `type` is 'LoadBalancer'");
	}
	if (is_type(svc, "LoadBalancer") && alnp == NULL) {
		kf_err_required(e, "allocateLoadBalancerNodePorts", "");
	}
	json_t *lbc = kf_jget(svc, "spec.loadBalancerClass");
	if (lbc) {
		if (is_type(svc, "LoadBalancer")) {
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
	if (!externally_accessible(svc)) {
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
	long long hc = jint(kf_jget(svc, "spec"), "healthCheckNodePort");
	if (!needs_hc_node_port(svc)) {
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
	if (!is_type(svc, "ExternalName")) {
		const char *itp = kf_jstr(svc, "spec.internalTrafficPolicy");
		if (kf_jget(svc, "spec.internalTrafficPolicy") == NULL) {
			if (is_type(svc, "NodePort")
			    || is_type(svc, "LoadBalancer")
			    || is_type(svc, "ClusterIP")) {
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

// ---- allocation (rules 50-54)
// --------------------------------------------------

typedef struct txn {
	long     t_ip;         // newly allocated IP offset, -1 none
	uint32_t t_ports[128]; // newly allocated node-port offsets
	int      t_nports;
	long     t_release_ip; // IP offset to release on commit, -1 none
	uint32_t t_release[128];
	int      t_nrelease;
} txn;

static void
txn_init(txn *t)
{
	memset(t, 0, sizeof(*t));
	t->t_ip         = -1;
	t->t_release_ip = -1;
}

static void
txn_rollback(txn *t)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	if (t->t_ip >= 0) {
		kf_bitmap_clear(&a->a_ips, (uint32_t) t->t_ip);
	}
	for (int i = 0; i < t->t_nports; i++) {
		kf_bitmap_clear(&a->a_ports, t->t_ports[i]);
	}
	txn_init(t);
}

static void
txn_commit(txn *t)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	if (t->t_release_ip >= 0) {
		kf_bitmap_clear(&a->a_ips, (uint32_t) t->t_release_ip);
	}
	for (int i = 0; i < t->t_nrelease; i++) {
		kf_bitmap_clear(&a->a_ports, t->t_release[i]);
	}
	txn_init(t);
}

// ip_offset maps an IP to its slot; -1 outside the usable range.
static long
ip_offset(const char *ip)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	uint32_t        v;
	if (kf_ip4_parse(ip, &v) != 0) {
		return -1;
	}
	if (v <= a->a_cidr.c_base
	    || v >= a->a_cidr.c_base + a->a_cidr.c_size - 1) {
		return -1;
	}
	return (long) (v - a->a_cidr.c_base - 1);
}

static void
one_cause(kf_resp *r, json_t *svc, const char *field, const char *value,
    const char *detail)
{
	kf_errs e = {0};
	kf_err_invalid(&e, field, value, detail);
	kf_status_invalid(r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
	kf_errs_fini(&e);
}

// alloc_cluster_ip allocates the requested or a random cluster IP.
static int
alloc_cluster_ip(json_t *svc, txn *t, kf_resp *r)
{
	kf_alloc_state *a    = &kf_st.st_alloc;
	json_t         *spec = kf_jobj(svc, "spec");
	json_t         *ips  = json_object_get(spec, "clusterIPs");
	const char     *want = json_string_value(json_array_get(ips, 0));
	if (want && *want) {
		long  off = ip_offset(want);
		char  det[256];
		char *gs = go_strings(ips);
		if (off < 0) {
			snprintf(det, sizeof(det),
			    "failed to allocate IP %s: the provided IP (%s) "
			    "is not in "
			    "the valid range. The range of valid IPs is %s",
			    want, want, a->a_cidr.c_text);
			one_cause(r, svc, "spec.clusterIPs", gs, det);
			free(gs);
			return -1;
		}
		if (kf_bitmap_test(&a->a_ips, (uint32_t) off)) {
			snprintf(det, sizeof(det),
			    "failed to allocate IP %s: provided IP is already "
			    "allocated",
			    want);
			one_cause(r, svc, "spec.clusterIPs", gs, det);
			free(gs);
			return -1;
		}
		free(gs);
		kf_bitmap_set(&a->a_ips, (uint32_t) off);
		t->t_ip = off;
		return 0;
	}
	long off = kf_bitmap_alloc(&a->a_ips);
	if (off < 0) {
		kf_status_internal(
		    r, "failed to allocate a serviceIP: range is full");
		return -1;
	}
	t->t_ip = off;
	char ip[16];
	kf_ip4_format(a->a_cidr.c_base + 1 + (uint32_t) off, ip);
	json_object_set_new(spec, "clusterIP", json_string(ip));
	json_t *arr = json_array();
	json_array_append_new(arr, json_string(ip));
	json_object_set_new(spec, "clusterIPs", arr);
	return 0;
}

static bool
np_in_range(long long p)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	return p >= a->a_np_base
	    && p < (long long) a->a_np_base + a->a_np_size;
}

static int
alloc_node_port(
    long long want, txn *t, kf_resp *r, json_t *svc, const char *field)
{
	kf_alloc_state *a = &kf_st.st_alloc;
	char            det[160];
	if (!np_in_range(want)) {
		snprintf(det, sizeof(det),
		    "provided port is not in the valid range. The range of "
		    "valid "
		    "ports is %u-%u",
		    a->a_np_base, a->a_np_base + a->a_np_size - 1);
		char v[32];
		snprintf(v, sizeof(v), "%lld", want);
		one_cause(r, svc, field, v, det);
		return -1;
	}
	uint32_t off = (uint32_t) (want - a->a_np_base);
	if (kf_bitmap_test(&a->a_ports, off)) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", want);
		one_cause(
		    r, svc, field, v, "provided port is already allocated");
		return -1;
	}
	kf_bitmap_set(&a->a_ports, off);
	if (t->t_nports < 128) {
		t->t_ports[t->t_nports++] = off;
	}
	return 0;
}

static long long
alloc_random_port(txn *t, kf_resp *r)
{
	kf_alloc_state *a   = &kf_st.st_alloc;
	long            off = kf_bitmap_alloc(&a->a_ports);
	if (off < 0) {
		kf_status_internal(
		    r, "failed to allocate a nodePort: range is full");
		return -1;
	}
	if (t->t_nports < 128) {
		t->t_ports[t->t_nports++] = (uint32_t) off;
	}
	return (long long) a->a_np_base + off;
}

static bool
old_has_node_port(json_t *old, long long np)
{
	if (old == NULL || np == 0) {
		return false;
	}
	size_t  i;
	json_t *p;
	json_array_foreach(ports(old), i, p)
	{
		if (jint(p, "nodePort") == np) {
			return true;
		}
	}
	return jint(kf_jget(old, "spec"), "healthCheckNodePort") == np;
}

static bool
new_has_node_port(json_t *svc, long long np)
{
	size_t  i;
	json_t *p;
	json_array_foreach(ports(svc), i, p)
	{
		if (jint(p, "nodePort") == np) {
			return true;
		}
	}
	return jint(kf_jget(svc, "spec"), "healthCheckNodePort") == np;
}

// alloc_node_ports allocates what svc needs; ports already held by old
// (an update) are kept without allocating again.
static int
alloc_node_ports(json_t *svc, json_t *old, txn *t, kf_resp *r)
{
	json_t *p = ports(svc);
	size_t  i;
	json_t *port;
	bool    need = needs_node_port(svc);
	bool    explicit_only
	    = is_type(svc, "LoadBalancer") && !alloc_lb_nodeports(svc);
	if (!need && !explicit_only) {
		return 0;
	}
	// Explicit requests first.
	json_array_foreach(p, i, port)
	{
		long long np = jint(port, "nodePort");
		if (np == 0 || old_has_node_port(old, np)) {
			continue;
		}
		// Two ports may share a node port (53/TCP and 53/UDP).
		bool seen = false;
		for (size_t j = 0; j < i; j++) {
			if (jint(json_array_get(p, j), "nodePort") == np) {
				seen = true;
			}
		}
		if (seen) {
			continue;
		}
		char field[64];
		snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
		if (alloc_node_port(np, t, r, svc, field) != 0) {
			return -1;
		}
	}
	if (!need) {
		return 0;
	}
	json_array_foreach(p, i, port)
	{
		if (jint(port, "nodePort") != 0) {
			continue;
		}
		long long pn    = jint(port, "port");
		long long share = 0;
		for (size_t j = 0; j < json_array_size(p); j++) {
			json_t *o = json_array_get(p, j);
			if (j != i && jint(o, "port") == pn
			    && jint(o, "nodePort")) {
				share = jint(o, "nodePort");
				break;
			}
		}
		if (share == 0) {
			share = alloc_random_port(t, r);
			if (share < 0) {
				return -1;
			}
		}
		json_object_set_new(port, "nodePort", json_integer(share));
	}
	return 0;
}

static int
alloc_hc_node_port(json_t *svc, json_t *old, txn *t, kf_resp *r)
{
	if (!needs_hc_node_port(svc)) {
		return 0;
	}
	json_t   *spec = kf_jobj(svc, "spec");
	long long hc   = jint(spec, "healthCheckNodePort");
	if (hc != 0) {
		if (old_has_node_port(old, hc)
		    && jint(kf_jget(old, "spec"), "healthCheckNodePort")
		        == hc) {
			return 0;
		}
		kf_resp tmp = {0};
		if (alloc_node_port(
		        hc, t, &tmp, svc, "spec.healthCheckNodePort")
		    != 0) {
			kf_resp_fini(&tmp);
			kf_status_internal(r,
			    "failed to allocate requested HealthCheck "
			    "NodePort %lld: "
			    "provided port is already allocated",
			    hc);
			return -1;
		}
		kf_resp_fini(&tmp);
		return 0;
	}
	long long np = alloc_random_port(t, r);
	if (np < 0) {
		return -1;
	}
	json_object_set_new(spec, "healthCheckNodePort", json_integer(np));
	return 0;
}

// init_ip_families sets ipFamilyPolicy / ipFamilies (alloc.go
// initIPFamilyFields) on a single-stack IPv4 cluster.
static int
init_ip_families(json_t *svc, json_t *old, kf_resp *r)
{
	if (!needs_cluster_ip(svc)) {
		return 0;
	}
	kf_errs e = {0};
	validate_cluster_ips(svc, &e);
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		return -1;
	}
	json_t *spec = kf_jobj(svc, "spec");
	if (json_object_get(spec, "ipFamilyPolicy") == NULL) {
		json_t *op = old ? kf_jget(old, "spec.ipFamilyPolicy") : NULL;
		if (op && needs_cluster_ip(old)) {
			json_object_set(spec, "ipFamilyPolicy", op);
		} else if (is_headless(svc)
		    && json_object_size(kf_jget(svc, "spec.selector")) == 0) {
			json_object_set_new(spec, "ipFamilyPolicy",
			    json_string("RequireDualStack"));
		} else {
			json_object_set_new(spec, "ipFamilyPolicy",
			    json_string("SingleStack"));
		}
	}
	const char *pol  = kf_jstr(spec, "ipFamilyPolicy");
	json_t     *fams = json_object_get(spec, "ipFamilies");
	json_t     *ips  = json_object_get(spec, "clusterIPs");
	if (!is_headless(svc)) {
		if (pol && strcmp(pol, "RequireDualStack") == 0) {
			kf_err_invalid_str(&e, "spec.ipFamilyPolicy", pol,
			    "this cluster is not configured for dual-stack "
			    "services");
		}
		if (pol && strcmp(pol, "SingleStack") == 0
		    && (json_array_size(ips) > 1
		        || json_array_size(fams) > 1)) {
			kf_err_invalid_str(&e, "spec.ipFamilyPolicy", pol,
			    json_array_size(ips) > 1
			        ? "must be 'RequireDualStack' or "
			          "'PreferDualStack' "
			          "when multiple cluster IPs are specified"
			        : "must be 'RequireDualStack' or "
			          "'PreferDualStack' "
			          "when multiple IP families are specified");
		}
		size_t  i;
		json_t *f;
		json_array_foreach(fams, i, f)
		{
			const char *fv = json_string_value(f);
			if (fv && strcmp(fv, "IPv6") == 0) {
				char field[48];
				snprintf(field, sizeof(field),
				    "spec.ipFamilies[%zu]", i);
				kf_err_invalid_str(&e, field, fv,
				    "not configured on this cluster");
			}
		}
		json_array_foreach(ips, i, f)
		{
			const char *v = json_string_value(f);
			if (v && is_ipv6(v)) {
				char field[48];
				snprintf(field, sizeof(field),
				    "spec.clusterIPs[%zu]", i);
				kf_err_invalid_str(&e, field, v,
				    "IPv6 is not configured on this cluster");
			}
		}
	}
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		return -1;
	}
	if (json_array_size(fams) == 0) {
		json_t *arr = json_array();
		json_array_append_new(arr, json_string("IPv4"));
		json_object_set_new(spec, "ipFamilies", arr);
	}
	return 0;
}

static void
normalize_cluster_ips(json_t *svc)
{
	json_t     *spec = kf_jobj(svc, "spec");
	const char *ip   = kf_jstr(spec, "clusterIP");
	json_t     *ips  = json_object_get(spec, "clusterIPs");
	if (ip && *ip && json_array_size(ips) == 0) {
		json_t *arr = json_array();
		json_array_append_new(arr, json_string(ip));
		json_object_set_new(spec, "clusterIPs", arr);
	}
}

static void
stamp_create(json_t *svc)
{
	json_t *meta = kf_jobj(svc, "metadata");
	char    uid[37], now[32];
	kf_uuid(uid);
	kf_now_rfc3339(now);
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(now));
	json_object_set_new(meta, "generation", json_integer(1));
}

int
kf_service_create(json_t *svc, bool dry_run, kf_resp *r)
{
	txn t;
	txn_init(&t);
	normalize_cluster_ips(svc);
	if (init_ip_families(svc, NULL, r) != 0) {
		return -1;
	}
	if (needs_cluster_ip(svc) && !is_headless(svc)
	    && alloc_cluster_ip(svc, &t, r) != 0) {
		return -1;
	}
	if (alloc_node_ports(svc, NULL, &t, r) != 0
	    || alloc_hc_node_port(svc, NULL, &t, r) != 0) {
		txn_rollback(&t);
		return -1;
	}
	json_object_set_new(
	    svc, "status", json_pack("{s:{}}", "loadBalancer"));
	kf_errs e = {0};
	validate_service(svc, &e);
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		txn_rollback(&t);
		return -1;
	}
	if (dry_run) {
		txn_rollback(&t);
	} else {
		txn_commit(&t);
	}
	stamp_create(svc);
	return 0;
}

// patch_allocated_values (rule 59).
static void
patch_allocated_values(json_t *svc, json_t *old)
{
	json_t *spec = kf_jobj(svc, "spec");
	if (needs_cluster_ip(old) && needs_cluster_ip(svc)) {
		const char *ip = kf_jstr(spec, "clusterIP");
		if (ip == NULL || *ip == '\0') {
			json_t *oip = kf_jget(old, "spec.clusterIP");
			if (oip) {
				json_object_set(spec, "clusterIP", oip);
			}
		}
		if (json_array_size(json_object_get(spec, "clusterIPs"))
		    == 0) {
			json_t *oips = kf_jget(old, "spec.clusterIPs");
			if (json_array_size(oips) > 0) {
				json_object_set_new(
				    spec, "clusterIPs", json_deep_copy(oips));
			}
		}
	}
	if (needs_node_port(old) && needs_node_port(svc)) {
		json_t *np = ports(svc), *op = ports(old);
		size_t  i;
		json_t *p;
		json_array_foreach(np, i, p)
		{
			if (jint(p, "nodePort") != 0) {
				continue;
			}
			const char *name = kf_jstr(p, "name");
			size_t      j;
			json_t     *q;
			json_array_foreach(op, j, q)
			{
				const char *on = kf_jstr(q, "name");
				if (strcmp(on ? on : "", name ? name : "")
				    != 0) {
					continue;
				}
				long long oldv = jint(q, "nodePort");
				// Not if the new object uses that value
				// elsewhere.
				if (oldv != 0
				    && !new_has_node_port(svc, oldv)) {
					json_object_set_new(
					    p, "nodePort", json_integer(oldv));
				}
				break;
			}
		}
	}
	if (needs_hc_node_port(old) && needs_hc_node_port(svc)
	    && jint(spec, "healthCheckNodePort") == 0) {
		json_t *hc = kf_jget(old, "spec.healthCheckNodePort");
		if (hc) {
			json_object_set(spec, "healthCheckNodePort", hc);
		}
	}
}

static bool
same_json(json_t *a, json_t *b)
{
	if (a == NULL || b == NULL) {
		return a == b;
	}
	return json_equal(a, b);
}

// drop_type_dependent_fields (rule 60).
static void
drop_type_dependent_fields(json_t *svc, json_t *old)
{
	json_t *spec  = kf_jobj(svc, "spec");
	json_t *ospec = kf_jget(old, "spec");
	if (needs_cluster_ip(old) && !needs_cluster_ip(svc)) {
		if (same_json(json_object_get(spec, "clusterIPs"),
		        json_object_get(ospec, "clusterIPs"))
		    && same_json(json_object_get(spec, "clusterIP"),
		        json_object_get(ospec, "clusterIP"))) {
			json_object_del(spec, "clusterIP");
			json_object_del(spec, "clusterIPs");
		}
		if (same_json(json_object_get(spec, "ipFamilies"),
		        json_object_get(ospec, "ipFamilies"))) {
			json_object_del(spec, "ipFamilies");
		}
		if (same_json(json_object_get(spec, "ipFamilyPolicy"),
		        json_object_get(ospec, "ipFamilyPolicy"))) {
			json_object_del(spec, "ipFamilyPolicy");
		}
	}
	if (needs_node_port(old) && !needs_node_port(svc)) {
		bool    subset = true;
		size_t  i;
		json_t *p;
		json_array_foreach(ports(svc), i, p)
		{
			long long np = jint(p, "nodePort");
			if (np != 0) {
				bool    found = false;
				size_t  j;
				json_t *q;
				json_array_foreach(ports(old), j, q)
				{
					if (jint(q, "nodePort") == np) {
						found = true;
					}
				}
				subset = subset && found;
			}
		}
		if (subset) {
			json_array_foreach(ports(svc), i, p)
			{
				json_object_del(p, "nodePort");
			}
		}
	}
	if (needs_hc_node_port(old) && !needs_hc_node_port(svc)
	    && jint(spec, "healthCheckNodePort")
	        == jint(ospec, "healthCheckNodePort")) {
		json_object_del(spec, "healthCheckNodePort");
	}
	if (is_type(old, "LoadBalancer") && !is_type(svc, "LoadBalancer")) {
		json_t *a
		    = json_object_get(spec, "allocateLoadBalancerNodePorts");
		json_t *b
		    = json_object_get(ospec, "allocateLoadBalancerNodePorts");
		if (a && b && json_equal(a, b)) {
			json_object_del(spec, "allocateLoadBalancerNodePorts");
		}
		if (same_json(json_object_get(spec, "loadBalancerClass"),
		        json_object_get(ospec, "loadBalancerClass"))) {
			json_object_del(spec, "loadBalancerClass");
		}
	}
	if (externally_accessible(old) && !externally_accessible(svc)
	    && same_json(json_object_get(spec, "externalTrafficPolicy"),
	        json_object_get(ospec, "externalTrafficPolicy"))) {
		json_object_del(spec, "externalTrafficPolicy");
	}
	if (!is_type(svc, "LoadBalancer")) {
		json_object_set_new(
		    kf_jobj(svc, "status"), "loadBalancer", json_object());
	}
}

static void
validate_update(json_t *svc, json_t *old, kf_errs *e)
{
	if (!is_type(old, "ExternalName") && !is_type(svc, "ExternalName")
	    && !(is_headless(old) && is_headless(svc))) {
		json_t *oips = kf_jget(old, "spec.clusterIPs");
		json_t *nips = kf_jget(svc, "spec.clusterIPs");
		char   *gs   = go_strings(nips ? nips : oips);
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
	if (is_type(old, "LoadBalancer") && is_type(svc, "LoadBalancer")
	    && !same_json(kf_jget(old, "spec.loadBalancerClass"),
	        kf_jget(svc, "spec.loadBalancerClass"))) {
		json_t *c = kf_jget(svc, "spec.loadBalancerClass");
		char   *q
		    = c ? kf_goquote(json_string_value(c)) : strdup("null");
		kf_err_invalid(
		    e, "spec.loadBalancerClass", q, "may not change once set");
		free(q);
	}
	if (needs_hc_node_port(old) && needs_hc_node_port(svc)
	    && jint(kf_jget(old, "spec"), "healthCheckNodePort")
	        != jint(kf_jget(svc, "spec"), "healthCheckNodePort")) {
		kf_err_forbidden(
		    e, "spec.healthCheckNodePort", "field is immutable");
	}
	validate_service(svc, e);
}

int
kf_service_update(json_t *svc, json_t *old, bool dry_run, kf_resp *r)
{
	txn t;
	txn_init(&t);
	patch_allocated_values(svc, old);
	normalize_cluster_ips(svc);
	// Status is not writable through the main resource.
	json_t *ost = json_object_get(old, "status");
	json_object_set_new(svc, "status",
	    ost ? json_deep_copy(ost) : json_pack("{s:{}}", "loadBalancer"));
	drop_type_dependent_fields(svc, old);
	if (init_ip_families(svc, old, r) != 0) {
		return -1;
	}
	if (needs_cluster_ip(svc) && !is_headless(svc)
	    && (!needs_cluster_ip(old) || is_headless(old))) {
		if (alloc_cluster_ip(svc, &t, r) != 0) {
			return -1;
		}
	}
	if (alloc_node_ports(svc, old, &t, r) != 0
	    || alloc_hc_node_port(svc, old, &t, r) != 0) {
		txn_rollback(&t);
		return -1;
	}
	kf_errs e = {0};
	validate_update(svc, old, &e);
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		txn_rollback(&t);
		return -1;
	}
	// Release what the old object held and the new one does not.
	if (needs_cluster_ip(old) && !is_headless(old)
	    && (!needs_cluster_ip(svc) || is_headless(svc))) {
		const char *oip = kf_jstr(old, "spec.clusterIP");
		t.t_release_ip  = oip ? ip_offset(oip) : -1;
	}
	kf_alloc_state *a = &kf_st.st_alloc;
	size_t          i;
	json_t         *p;
	json_array_foreach(ports(old), i, p)
	{
		long long np = jint(p, "nodePort");
		if (np && !new_has_node_port(svc, np) && np_in_range(np)
		    && t.t_nrelease < 128) {
			t.t_release[t.t_nrelease++]
			    = (uint32_t) (np - a->a_np_base);
		}
	}
	long long ohc = jint(kf_jget(old, "spec"), "healthCheckNodePort");
	if (ohc && !new_has_node_port(svc, ohc) && np_in_range(ohc)
	    && t.t_nrelease < 128) {
		t.t_release[t.t_nrelease++] = (uint32_t) (ohc - a->a_np_base);
	}
	if (dry_run) {
		txn_rollback(&t);
	} else {
		txn_commit(&t);
	}
	// Generation moves when the spec does.
	json_t   *meta = kf_jobj(svc, "metadata");
	long long gen  = jint(kf_jget(old, "metadata"), "generation");
	if (!same_json(kf_jget(old, "spec"), kf_jget(svc, "spec"))) {
		gen++;
	}
	json_object_set_new(meta, "generation", json_integer(gen ? gen : 1));
	return 0;
}

int
kf_service_status_update(json_t *svc, json_t *old, kf_resp *r)
{
	json_object_set_new(svc, "spec", json_deep_copy(kf_jget(old, "spec")));
	kf_errs e   = {0};
	json_t *ing = kf_jget(svc, "status.loadBalancer.ingress");
	size_t  i;
	json_t *g;
	json_array_foreach(ing, i, g)
	{
		char        field[64];
		const char *ip = kf_jstr(g, "ip");
		const char *hn = kf_jstr(g, "hostname");
		if (ip && *ip && !kf_ip_valid(ip)) {
			snprintf(field, sizeof(field),
			    "status.loadBalancer.ingress[%zu].ip", i);
			kf_err_invalid_str(
			    &e, field, ip, "must be a valid IP address");
		}
		if (hn && *hn) {
			snprintf(field, sizeof(field),
			    "status.loadBalancer.ingress[%zu].hostname", i);
			if (!kf_is_dns1123_subdomain(hn)) {
				kf_err_invalid_str(
				    &e, field, hn, MSG_DNS1123_SUBDOMAIN);
			}
			if (kf_ip_valid(hn)) {
				kf_err_invalid_str(&e, field, hn,
				    "must be a DNS name, not an IP address");
			}
		}
	}
	if (e.e_n > 0) {
		kf_status_invalid(
		    r, "", "Service", kf_jstr(svc, "metadata.name"), &e);
		kf_errs_fini(&e);
		return -1;
	}
	json_object_set(kf_jobj(svc, "metadata"), "generation",
	    kf_jget(old, "metadata.generation"));
	return 0;
}

static void
mark(json_t *svc, bool used)
{
	kf_alloc_state *a  = &kf_st.st_alloc;
	const char     *ip = kf_jstr(svc, "spec.clusterIP");
	if (ip && needs_cluster_ip(svc)) {
		long off = ip_offset(ip);
		if (off >= 0) {
			if (used) {
				kf_bitmap_set(&a->a_ips, (uint32_t) off);
			} else {
				kf_bitmap_clear(&a->a_ips, (uint32_t) off);
			}
		}
	}
	size_t  i;
	json_t *p;
	json_array_foreach(ports(svc), i, p)
	{
		long long np = jint(p, "nodePort");
		if (np && np_in_range(np)) {
			if (used) {
				kf_bitmap_set(&a->a_ports,
				    (uint32_t) (np - a->a_np_base));
			} else {
				kf_bitmap_clear(&a->a_ports,
				    (uint32_t) (np - a->a_np_base));
			}
		}
	}
	long long hc = jint(kf_jget(svc, "spec"), "healthCheckNodePort");
	if (hc && np_in_range(hc)) {
		if (used) {
			kf_bitmap_set(
			    &a->a_ports, (uint32_t) (hc - a->a_np_base));
		} else {
			kf_bitmap_clear(
			    &a->a_ports, (uint32_t) (hc - a->a_np_base));
		}
	}
}

void
kf_service_release(json_t *svc)
{
	mark(svc, false);
}

void
kf_service_reserve(json_t *svc)
{
	mark(svc, true);
}
