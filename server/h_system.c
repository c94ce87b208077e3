// h_system.c: Version and Health, the two methods that need no token.
#include "internal.h"

static void
h_version(Svcfleet__V1__System_Service *s, const Svcfleet__V1__Empty *in,
    Svcfleet__V1__VersionReply_Closure closure, void *data)
{
	sf__srv_call               *c = sf__srv_call_of(data);
	Svcfleet__V1__VersionReply *r;
	(void) in;

	if ((r = sf__srv_reply_new(
	         c, &svcfleet__v1__version_reply__descriptor))
	    == NULL) {
		return;
	}
	r->version  = SF_VERSION;
	r->api      = "svcfleet.v1";
	r->revision = sf_store_revision(sf__srv_of_system(s)->s_store);
	r->installation_id
	    = (char *) sf_store_installation_id(sf__srv_of_system(s)->s_store);
	closure(r, data);
}

static void
h_health(Svcfleet__V1__System_Service *s, const Svcfleet__V1__Empty *in,
    Svcfleet__V1__HealthReply_Closure closure, void *data)
{
	static const Svcfleet__V1__HealthReply ok = {
	    PROTOBUF_C_MESSAGE_INIT(&svcfleet__v1__health_reply__descriptor),
	    true, "ok"};
	(void) s;
	(void) in;
	closure(&ok, data);
}

void
sf__srv_handlers_system_init(sf_server *srv)
{
	Svcfleet__V1__System_Service init = SVCFLEET__V1__SYSTEM__INIT(h_);
	srv->s_system                     = init;
}
