// kf_admit.c: a validating admission webhook that says no (i19-diff), so
// that a test can see what a client makes of an API server refusing a
// write — a dry run included, as `svcfleet diff --server-side` sends it —
// after the object itself was found valid.
//
// Switched with the faults (POST /_kubefake/faults: admission_deny,
// admission_status, admission_webhook, admission_dry_run_only). The
// answer is the Status kube-apiserver makes of a webhook's denial
// (k8s.io/apiserver webhook errors.ToStatusErr): the webhook's code (400
// unless it gives another) and `admission webhook "NAME" denied the
// request: MESSAGE`. As in kube-apiserver, it comes after allocation and
// validation (an invalid object gets its 422 first) and before storage
// (so AlreadyExists and Conflict come after it); nothing is kept.
#include <string.h>

#include "kf.h"

static const char *
reason_of(int code)
{
	switch (code) {
	case 400:
		return ("BadRequest");
	case 403:
		return ("Forbidden");
	case 422:
		return ("Invalid");
	case 500:
		return ("InternalError");
	default:
		return ("");
	}
}

int
kf_admission_check(bool dry_run, kf_resp *r)
{
	kf_faults f;

	pthread_mutex_lock(&kf_st.st_fmu);
	f = kf_st.st_faults;
	pthread_mutex_unlock(&kf_st.st_fmu);
	if (f.f_admission_deny[0] == '\0'
	    || (f.f_admission_dry_run_only && !dry_run)) {
		return (0);
	}
	atomic_fetch_add(&kf_st.st_stats.s_fault_admission, 1);
	kf_status(r, f.f_admission_status, reason_of(f.f_admission_status),
	    NULL, "admission webhook \"%s\" denied the request: %s",
	    f.f_admission_webhook, f.f_admission_deny);
	return (-1);
}
