// fieldflag.c: which flag of `create service` (and `update service`) set
// a field the server rejected, so that a violation names the flag as
// well as the field path (issue 20): "spec.ports[1].nodePort: ...
// (from --port 53/UDP@20000)".
#include <stdlib.h>
#include <string.h>

#include "cli.h"

// Field path prefixes and the flag that sets them; the first match wins,
// so longer prefixes come first.
static const struct {
	const char *ff_prefix;
	int         ff_flag; // F_*, or -1 for the NAME argument
} field_flags[] = {
    {"metadata.name", -1},
    {"metadata.namespace", F_NAMESPACE},
    {"metadata.cluster", F_CLUSTER},
    {"metadata.labels", F_LABEL},
    {"metadata.annotations[metallb.universe.tf/address-pool]", F_LB_POOL},
    {"metadata.annotations[metallb.io/address-pool]", F_LB_POOL},
    {"metadata.annotations[metallb.universe.tf/loadBalancerIPs]",
        F_LB_ADDRESS},
    {"metadata.annotations[metallb.io/loadBalancerIPs]", F_LB_ADDRESS},
    {"metadata.annotations", F_ANNOTATION},
    {"spec.type", F_TYPE},
    {"spec.selector", F_SELECTOR},
    {"spec.sessionAffinityConfig", F_SESSION_TIMEOUT},
    {"spec.sessionAffinity", F_SESSION_AFFINITY},
    {"spec.externalTrafficPolicy", F_TRAFFIC_POLICY},
    {"spec.lbType", F_LB_TYPE},
    {"spec.loadBalancerClass", F_LB_CLASS},
    {"spec.loadBalancerIP", F_LB_ADDRESS},
};

// Does field start with prefix, at a path boundary?
static bool
under(const char *field, const char *prefix)
{
	size_t n = strlen(prefix);
	return (strncmp(field, prefix, n) == 0
	    && (field[n] == '\0' || field[n] == '.' || field[n] == '['));
}

const char *
sf__cli_field_flag(cli *c, const char *field)
{
	if (field == NULL) {
		return (NULL);
	}
	// spec.ports[i]...: the i-th --port, quoted as the user typed it.
	if (strncmp(field, "spec.ports[", 11) == 0) {
		char         *end;
		unsigned long i = strtoul(field + 11, &end, 10);
		if (*end == ']' && i < c->c_list[F_PORT].l_n) {
			return (sf_arena_printf(&c->c_arena, "--port %s",
			    c->c_list[F_PORT].l_v[i]));
		}
		return (NULL);
	}
	for (size_t i = 0; i < sizeof(field_flags) / sizeof(field_flags[0]);
	     i++) {
		int id = field_flags[i].ff_flag;
		if (!under(field, field_flags[i].ff_prefix)) {
			continue;
		}
		if (id < 0) {
			return ("the NAME argument");
		}
		// A single-valued flag is quoted with its value; a default
		// (namespace "default") is named as the flag all the same,
		// since that is how to change it.
		bool val = c->c_set[id]
		    && sf__cli_flag_defs[id].fd_kind == FK_VALUE;
		return (sf_arena_printf(&c->c_arena, "--%s%s%s",
		    sf__cli_flag_defs[id].fd_name, val ? " " : "",
		    val ? c->c_val[id] : ""));
	}
	return (NULL);
}
