// delete.c: `svcfleet delete service NAME`. A Service no cluster holds is
// gone at once; one a cluster holds is marked for deletion and removed when
// the reconciler confirms the cluster deleted it (finalizer semantics).
#include <string.h>

#include "cli.h"

int
sf__cli_cmd_delete_service(cli *c)
{
	Svcfleet__V1__DeleteServiceRequest req
	    = SVCFLEET__V1__DELETE_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__DeleteServiceReply *rep  = NULL;
	const char                       *name = c->c_args[0];
	int                               rv   = 0;

	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	key.cluster    = (char *) c->c_val[F_CLUSTER];
	key.namespace_ = (char *) sf__cli_namespace(c);
	key.name       = (char *) name;
	req.key        = &key;
	if (svcfleet_delete_service(c->c_client, &req, &rep, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	if ((c->c_output == OUT_JSON || c->c_output == OUT_YAML)
	    && rep->service != NULL) {
		rv = sf__cli_print_services(c, &rep->service, 1, false, false);
	} else if (c->c_output == OUT_NAME) {
		sf__cli_print_service_name(key.cluster, key.namespace_, name);
	} else if (rep->deleted) {
		printf("service \"%s\" deleted\n", name);
	} else {
		printf("service \"%s\" marked for deletion (waiting for "
		       "cluster)\n",
		    name);
	}
	if (!rep->deleted && sf__cli_flag(c, F_WAIT) && rv == 0) {
		rv = sf__cli_wait_service(
		    c, key.cluster, key.namespace_, name, true);
	}
	svcfleet_free(rep);
	return (rv);
}
