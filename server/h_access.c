// h_access.c: AccessControl and Audit. Authentication, role bindings,
// tokens and the audit log arrive with the identity work (issue 3); until
// then these methods answer UNIMPLEMENTED and say so.
#include "internal.h"

#define NOT_YET(name, svc, req, rep)                                         \
	static void h_##name(svc *s, const req *in, rep closure, void *data) \
	{                                                                    \
		(void) s;                                                    \
		(void) in;                                                   \
		(void) closure;                                              \
		sf_call_fail(sf_call_of(data), SF_UNIMPLEMENTED,             \
		    "%s is not available yet: svcfleetd does not "           \
		    "authenticate callers",                                  \
		    sf_call_of(data)->c_method->m_path);                     \
	}

typedef Svcfleet__V1__AccessControl_Service AC;
NOT_YET(create_role_binding, AC, Svcfleet__V1__CreateRoleBindingRequest,
    Svcfleet__V1__RoleBinding_Closure)
NOT_YET(delete_role_binding, AC, Svcfleet__V1__DeleteRoleBindingRequest,
    Svcfleet__V1__Empty_Closure)
NOT_YET(list_role_bindings, AC, Svcfleet__V1__ListRoleBindingsRequest,
    Svcfleet__V1__ListRoleBindingsReply_Closure)
NOT_YET(create_token, AC, Svcfleet__V1__CreateTokenRequest,
    Svcfleet__V1__CreateTokenReply_Closure)
NOT_YET(revoke_token, AC, Svcfleet__V1__RevokeTokenRequest,
    Svcfleet__V1__Empty_Closure)
NOT_YET(list_tokens, AC, Svcfleet__V1__ListTokensRequest,
    Svcfleet__V1__ListTokensReply_Closure)
NOT_YET(who_am_i, AC, Svcfleet__V1__WhoAmIRequest,
    Svcfleet__V1__WhoAmIReply_Closure)
NOT_YET(list_audit_events, Svcfleet__V1__Audit_Service,
    Svcfleet__V1__ListAuditEventsRequest,
    Svcfleet__V1__ListAuditEventsReply_Closure)

void
sf_handlers_access_init(sf_server *srv)
{
	Svcfleet__V1__AccessControl_Service ac
	    = SVCFLEET__V1__ACCESS_CONTROL__INIT(h_);
	Svcfleet__V1__Audit_Service au = SVCFLEET__V1__AUDIT__INIT(h_);
	srv->s_access                  = ac;
	srv->s_audit                   = au;
}
