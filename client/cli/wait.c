// wait.c: `svcfleet wait service NAME --for synced|deleted` and the wait
// of `delete --wait`.
//
// Waiting costs no polling loop: each round reads the Service, and if it
// is not there yet, parks in WatchServices (filtered to its cluster and
// namespace) until something there changes or a few seconds pass. On a
// terminal a progress line shows the state as it moves.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"

#define WAIT_DEFAULT_MS 60000
#define WATCH_SLICE_MS  5000

static const char *
state_name(int s)
{
	// (i19-ssd: DRIFTED, drift policy Report.)
	static const char *const n[] = {"UNKNOWN", "PENDING", "SYNCED",
	    "ERROR", "DELETING", "WAITING_ADDRESS", "UNKNOWN", "DRIFTED"};
	return (s >= 0 && s <= 7 ? n[s] : "UNKNOWN");
}

static const Svcfleet__V1__ClusterStatus *
status_of(const Svcfleet__V1__Service *svc, const char *cluster)
{
	for (size_t i = 0; i < svc->n_status; i++) {
		if (svc->status[i]->cluster != NULL
		    && strcmp(svc->status[i]->cluster, cluster) == 0) {
			return (svc->status[i]);
		}
	}
	return (NULL);
}

static int
current_revision(cli *c, uint64_t *rev)
{
	Svcfleet__V1__Empty         e = SVCFLEET__V1__EMPTY__INIT;
	Svcfleet__V1__VersionReply *v = NULL;
	if (svcfleet_version(c->c_client, &e, &v, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	*rev = v->revision;
	svcfleet_free(v);
	return (0);
}

int
sf__cli_wait_service(cli *c, const char *cluster, const char *ns,
    const char *name, bool deleted)
{
	int64_t  budget = c->c_set[F_TIMEOUT] ? (int64_t) c->c_timeout_ms
	                                      : WAIT_DEFAULT_MS;
	int64_t  start = sf_clock_mono_ms(), until = start + budget;
	bool     tty   = isatty(2) != 0;
	bool     shown = false;
	char     last[700];
	uint64_t since = 0; // set by current_revision (gcc -O3 cannot see it)
	int      rv;

	snprintf(last, sizeof(last), "not read yet");
	if ((rv = sf__cli_connect(c)) != 0
	    || (rv = current_revision(c, &since)) != 0) {
		return (rv);
	}
	for (;;) {
		Svcfleet__V1__GetServiceRequest req
		    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
		Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
		Svcfleet__V1__Service   *svc = NULL;
		int64_t                  now;
		bool                     done = false;

		key.cluster    = (char *) cluster;
		key.namespace_ = (char *) ns;
		key.name       = (char *) name;
		req.key        = &key;
		rv = svcfleet_get_service(c->c_client, &req, &svc, &c->c_st);
		if (rv == SVCFLEET_NOT_FOUND) {
			if (!deleted) {
				if (shown) {
					fputc('\n', stderr);
				}
				return (sf__cli_fail_status(&c->c_st, NULL));
			}
			done = true;
		} else if (rv != 0) {
			if (shown) {
				fputc('\n', stderr);
			}
			return (sf__cli_fail_status(&c->c_st, NULL));
		} else {
			const Svcfleet__V1__ClusterStatus *cs
			    = status_of(svc, cluster);
			int64_t gen = svc->metadata->generation;
			if (cs == NULL) {
				snprintf(last, sizeof(last),
				    "%s (not reported yet, generation %lld)",
				    svc->metadata->deleting ? "DELETING"
				                            : "PENDING",
				    (long long) gen);
			} else {
				snprintf(last, sizeof(last),
				    "%s (observed generation %lld of "
				    "%lld)%s%s",
				    state_name(cs->state),
				    (long long) cs->observed_generation,
				    (long long) gen,
				    cs->message[0] != '\0' ? ": " : "",
				    cs->message);
				done = !deleted
				    && cs->state
				        == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
				    && cs->observed_generation >= gen;
			}
			svcfleet_free(svc);
		}
		now = sf_clock_mono_ms();
		if (tty) {
			// One line, rewritten in place.
			fprintf(stderr, "\r\033[Kservice/%s in %s: %s [%llds]",
			    name, cluster,
			    done ? (deleted ? "deleted" : "SYNCED") : last,
			    (long long) ((now - start) / 1000));
			fflush(stderr);
			shown = true;
		}
		if (done) {
			if (shown) {
				fputc('\n', stderr);
			}
			printf("service/%s %s\n", name,
			    deleted ? "deleted" : "synced");
			return (0);
		}
		if (now >= until) {
			if (shown) {
				fputc('\n', stderr);
			}
			return (sf__cli_fail(SF_DEADLINE_EXCEEDED,
			    "timed out after %llds waiting for service \"%s\" "
			    "in cluster \"%s\" to be %s; last: %s",
			    (long long) (budget / 1000), name, cluster,
			    deleted ? "deleted" : "synced", last));
		}
		Svcfleet__V1__WatchServicesRequest wr
		    = SVCFLEET__V1__WATCH_SERVICES_REQUEST__INIT;
		Svcfleet__V1__WatchServicesReply *rep = NULL;
		wr.since_revision                     = since;
		wr.cluster                            = (char *) cluster;
		wr.namespace_                         = (char *) ns;
		wr.wait_ms = (uint32_t) (until - now < WATCH_SLICE_MS
		        ? until - now
		        : WATCH_SLICE_MS);
		rv         = svcfleet_watch_services_wait(
		            c->c_client, &wr, &rep, &c->c_st);
		if (rv == 0) {
			since = rep->revision;
			svcfleet_free(rep);
		} else if (rv == SVCFLEET_OUT_OF_RANGE) {
			if ((rv = current_revision(c, &since)) != 0) {
				return (rv);
			}
		} else if (rv != SVCFLEET_DEADLINE_EXCEEDED) {
			if (shown) {
				fputc('\n', stderr);
			}
			return (sf__cli_fail_status(&c->c_st, NULL));
		}
	}
}

int
sf__cli_cmd_wait_service(cli *c)
{
	const char *cond = sf__cli_value(c, F_FOR, "");
	bool        deleted;

	if (strcmp(cond, "synced") == 0) {
		deleted = false;
	} else if (strcmp(cond, "deleted") == 0
	    || strcmp(cond, "delete") == 0) {
		deleted = true;
	} else {
		return (sf__cli_usage(c,
		    "invalid value \"%s\" for --for: want synced or deleted",
		    cond));
	}
	return (sf__cli_wait_service(c, c->c_val[F_CLUSTER],
	    sf__cli_namespace(c), c->c_args[0], deleted));
}
