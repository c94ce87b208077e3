// version.c: `svcfleet version` — this program's version and, unless
// --client, the server's.
#include "cli.h"

static int
print_versions(const cli *c, const Svcfleet__V1__VersionReply *srv)
{
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		json_t *o = json_pack(
		    "{s:{s:s}}", "clientVersion", "version", SF_VERSION);
		int rv;
		if (o != NULL && srv != NULL) {
			json_object_set_new(o, "serverVersion",
			    json_pack("{s:s, s:s, s:I}", "version",
			        srv->version, "api", srv->api, "revision",
			        (json_int_t) srv->revision));
		}
		rv = sf__cli_print_object(c, o);
		json_decref(o);
		return (rv);
	}
	printf("Client Version: %s\n", SF_VERSION);
	if (srv != NULL) {
		printf("Server Version: %s (api %s, store revision %llu)\n",
		    srv->version, srv->api,
		    (unsigned long long) srv->revision);
	}
	return (0);
}

int
sf__cli_cmd_version(cli *c)
{
	Svcfleet__V1__Empty         e   = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *srv = NULL;
	int                         rv;

	if (sf__cli_flag(c, F_CLIENT)) {
		return (print_versions(c, NULL));
	}
	// Like kubectl: the client's version even when the server is away.
	if ((rv = sf__cli_connect(c)) != 0) {
		if (c->c_output != OUT_JSON && c->c_output != OUT_YAML) {
			printf("Client Version: %s\n", SF_VERSION);
		}
		return (rv);
	}
	if (svcfleet_version(c->c_client, &e, &srv, &c->c_st) != 0) {
		if (c->c_output != OUT_JSON && c->c_output != OUT_YAML) {
			printf("Client Version: %s\n", SF_VERSION);
		}
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	rv = print_versions(c, srv);
	svcfleet_free(srv);
	return (rv);
}
