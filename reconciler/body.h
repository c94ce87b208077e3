// body.h: what the reconciler sends to a cluster, and how it tells whether
// a cluster object still matches it — without keeping either object.
//
// The apply body is the Kubernetes manifest of the desired Service
// (model.h) cut down to exactly the fields svcfleet owns, plus the
// managed-by label and the owner/generation annotations (DESIGN §5), and
// svcfleet.io/cluster naming the cluster record: an object is this
// reconciler's only when both owner and cluster record match, so two
// records that name one physical cluster never garbage-collect each
// other's Services.
//
// Comparison works on hashes. The desired side hashes a canonical form of
// the body. The cluster side hashes the cluster object projected onto the
// fields that manager "svcfleet" owns there (its Apply entry in
// metadata.managedFields), in the same canonical form. The two hashes are
// equal exactly when the cluster holds every field svcfleet applied with
// the value it applied: server-side apply moves a field's ownership to
// whoever changes it (kubectl edit, another applier with force), so an
// out-of-band edit shows as a projection that lacks that field. Neither
// side needs the other's object, and the reconciler keeps 64 bits per side
// instead of a JSON document per object.
#ifndef SF_RECON_BODY_H
#define SF_RECON_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#define SF_RECON_FIELD_MANAGER "svcfleet"

// sf_recon_body builds the server-side apply body of svc (a defaulted,
// stored Service) for installation owner: *json is compact JSON
// (malloc'd), *want the canonical hash. Either may be NULL when the
// caller does not need it (each costs about as much as building the
// body). Returns 0 or SF_RESOURCE_EXHAUSTED.
int sf_recon_body(
    const sf_service *svc, const char *owner, char **json, uint64_t *want);

// What the reconciler learns from one cluster object.
typedef struct sf_recon_obs {
	const char   *ob_ns;    // borrowed from the object
	const char   *ob_name;  // borrowed from the object
	bool          ob_owned; // svcfleet.io/owner is this installation
	uint64_t      ob_hash;  // projection hash; 0: svcfleet never applied
	int64_t       ob_gen;   // svcfleet.io/generation, 0 when absent
	unsigned char ob_uid[16];
	bool          ob_has_uid;
	bool          ob_lb;          // spec.type LoadBalancer
	bool          ob_has_ingress; // status.loadBalancer.ingress non-empty
	// Cluster-assigned facts in sf_recon_facts format (malloc'd).
	char *ob_facts;
} sf_recon_obs;

// sf_recon_observe reads obj (a Service from a list, watch or apply
// response) for the cluster record named cluster. owner may be NULL
// (nothing is owned then). Returns 0, or SF_INVALID_ARGUMENT when obj has
// no metadata.namespace/name, or SF_RESOURCE_EXHAUSTED. Free with
// sf_recon_obs_fini.
int sf_recon_observe(const json_t *obj, const char *owner, const char *cluster,
    sf_recon_obs *ob);
void sf_recon_obs_fini(sf_recon_obs *ob);

// Facts: clusterIP, assigned ports and ingress, packed in one short string
// "IP|name:port/PROTO=nodePort,...|ingress,..." (names may be empty).
// Only what reads back as it was written is packed: ports and node ports
// in 1..65535, values without the separators that would end them.

// sf_recon_facts_of_status packs a stored ClusterStatus's facts the same
// way (malloc'd, NULL when out of memory).
char *sf_recon_facts_of_status(const sf_cluster_status *cs);

// sf_recon_facts_fill unpacks facts into cs (memory from a).
int sf_recon_facts_fill(const char *facts, sf_cluster_status *cs, sf_arena *a);

// sf_recon_status_hash hashes what a status report says (state, observed
// generation, message, facts; not the time), so equal reports can be
// skipped.
uint64_t sf_recon_status_hash(int state, int64_t observed_generation,
    const char *msg, const char *facts);

// sf_recon_stored_status_hash hashes the status the store holds for
// cluster in svc (0 when it has none).
uint64_t sf_recon_stored_status_hash(
    const sf_service *svc, const char *cluster);

// sf_recon_uid_parse parses a UUID into 16 bytes; false when malformed.
bool sf_recon_uid_parse(const char *s, unsigned char out[16]);
void sf_recon_uid_format(const unsigned char uid[16], char out[37]);

#endif // SF_RECON_BODY_H
