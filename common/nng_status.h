// nng_status.h: nng's errors as svcfleet status codes — the one
// translation for the library, shared by the RPC server (listening) and
// libsvcfleet (dialling and calling).
//
// It is a static inline function in a header, not a function of
// sf_common, for two reasons: sf_common does not link nng, and libsvcfleet
// is installed on its own (its objects may not need sf_common), so both
// compile the same definition. Only files that already include nng include
// this one.
//
// The mapping is semantic, as nng's own docs group the errors: the peer is
// not there (UNAVAILABLE), the caller gave something unusable
// (INVALID_ARGUMENT), time ran out (DEADLINE_EXCEEDED), the operation was
// cancelled (CANCELLED), memory ran out (RESOURCE_EXHAUSTED); anything
// else is INTERNAL. A caller that knows more about its context (a client
// dialling an address that resolves to nothing) may refine the result
// after the call, never by mapping nng codes itself.
#ifndef SF_NNG_STATUS_H
#define SF_NNG_STATUS_H

#include <nng/nng.h>

#include "status.h"

static inline int
sf_status_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return (SF_OK);
	case NNG_ETIMEDOUT:
		return (SF_DEADLINE_EXCEEDED);
	case NNG_ECANCELED:
		return (SF_CANCELLED);
	case NNG_ENOMEM:
		return (SF_RESOURCE_EXHAUSTED);
	// The socket or the connection is gone, or there is none to have.
	case NNG_ECLOSED:
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ECONNABORTED:
	case NNG_ENOENT:
	case NNG_EUNREACHABLE:
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return (SF_UNAVAILABLE);
	// An address or option that cannot be used as given.
	case NNG_EINVAL:
	case NNG_ENOTSUP:
	case NNG_EADDRINVAL:
	case NNG_EADDRINUSE:
	case NNG_EPERM:
		return (SF_INVALID_ARGUMENT);
	default:
		return (SF_INTERNAL);
	}
}

#endif // SF_NNG_STATUS_H
