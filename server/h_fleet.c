// h_fleet.c: the FleetManager handlers (DESIGN §10, issue 18).
//
// A FleetService is stored as a record ("namespace/name"); its copies are
// ordinary Services (metadata.owner "FleetService/<name>") written in the
// same write as the record. Before the write is queued, fleet_prepare
// works out the placement, renders every placed cluster's copy and
// validates them all (each violation prefixed with its cluster), off the
// store's writer (issue 17, finding 3). Then one write function,
// fleet_sync, serves every change: it checks each placed cluster's
// record is still the one its copy was made from, picks "Same" node
// ports, checks node ports and the address plan, and only then writes
// copies, prunes the copies of clusters no longer placed, and stores the
// record. Strict (an RPC): any violation fails the whole write and
// nothing is written. Lenient (the placement loop, fleet_loop.c, when
// clusters come, go or change labels): a cluster whose copy cannot be
// written is skipped with the reason in status, the others go on.
//
// On etcd a write too wide for one transaction is committed in parts
// (i18-wide, fl_guard): the record, claims and as many copies as fit
// first, the other copies after, guarded by the record.
//
// The cluster list is read on the worker thread before the write is
// queued; the write re-reads each placed cluster's record itself. The
// address plan is checked and claimed in the same write (fleet_addrs.c:
// one claim record per address), so two writes in flight at once cannot
// both take an address; a write costs what it changes, not the number of
// FleetServices stored.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "str.h"

#define SAME_PORT_TRIES 4096

static bool
fl_streq(const char *a, const char *b)
{
	return (strcmp(sf_nz(a), sf_nz(b)) == 0);
}

static bool
fl_empty(const char *s)
{
	return (s == NULL || s[0] == '\0');
}

// ------------------------------------------------------------ helpers

static int
oom(sf_status *st)
{
	return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, "out of memory"));
}

static void *
grow(sf_arena *a, void *old, size_t n, size_t each)
{
	void *p = sf_arena_zalloc(a, (n + 1) * each);
	if (p != NULL && n > 0) {
		memcpy(p, old, n * each);
	}
	return (p);
}

static char *
fleet_id(sf_arena *a, const char *ns, const char *name)
{
	return (sf_arena_printf(a, "%s/%s", sf_nz(ns), sf_nz(name)));
}

static const char *
owner_of(sf_arena *a, const char *name)
{
	return (sf_arena_printf(a, "%s/%s", SF_MODEL_KIND_FLEET, name));
}

static void
limits_of(const Svcfleet__V1__Cluster *cl, sf_model_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->node_port_min = cl->node_port_min;
	lim->node_port_max = cl->node_port_max;
	if (cl->health != NULL && cl->health->pools_known) {
		lim->pools
		    = (const Svcfleet__V1__IPPool *const *) cl->health->pools;
		lim->npools = cl->health->n_pools;
	}
}

static int32_t
np_min(const Svcfleet__V1__Cluster *cl)
{
	return (cl->node_port_min > 0 ? cl->node_port_min : 30000);
}

static int32_t
np_max(const Svcfleet__V1__Cluster *cl)
{
	return (cl->node_port_max > 0 ? cl->node_port_max : 32767);
}

static bool
uses_node_ports(const sf_service *svc)
{
	const char *t = sf_nz(svc->spec->type);
	return (strcmp(t, "NodePort") == 0 || strcmp(t, "LoadBalancer") == 0);
}

// Moves st's violations into dst, each field prefixed clusters[NAME].
static void
prefix_move(sf_status *dst, const sf_status *src, const char *cluster)
{
	for (size_t i = 0; i < src->st_nviol; i++) {
		char f[600];
		snprintf(f, sizeof(f), "clusters[%s].%s", cluster,
		    src->st_viol[i].v_field);
		sf_status_violation(dst, src->st_viol[i].v_type, f, "%s",
		    src->st_viol[i].v_reason);
	}
}

// "spec.ports[0].nodePort: Invalid value ...; ..." for a status message.
static char *
viol_text(sf_arena *a, const sf_status *st)
{
	sf_buf b = SF_BUF_INIT;
	char  *r;
	for (size_t i = 0; i < st->st_nviol && i < 5; i++) {
		sf_buf_printf(&b, "%s%s: %s", i > 0 ? "; " : "",
		    st->st_viol[i].v_field, st->st_viol[i].v_reason);
	}
	if (st->st_nviol == 0) {
		sf_buf_printf(&b, "%s", st->st_msg);
	}
	r = sf_arena_strdup(a, sf_buf_cstr(&b));
	sf_buf_fini(&b);
	return (r);
}

// The address a copy asks for ("" when none).
static const char *
address_of(const sf_service *svc)
{
	return (strcmp(sf_nz(svc->spec->type), "LoadBalancer") == 0
	        ? sf_nz(svc->spec->lb_address)
	        : "");
}

// ------------------------------------------------------------ the job

enum { FJ_APPLY, FJ_DELETE, FJ_RESYNC };

typedef struct fleet_job {
	sf__srv_call *j_call; // first: the audit function finds it (NULL:
	                      // the placement loop's resync)
	int         j_kind;
	sf_arena   *j_arena; // the call's, or the loop's
	const char *j_user;
	// The request's FleetService, packed (a retried batch starts again).
	uint8_t *j_packed;
	size_t   j_len;
	char    *j_ns, *j_name;
	uint64_t j_del_rv;
	// Read before the write was queued.
	Svcfleet__V1__Cluster **j_clusters;
	size_t                  j_nclusters;
	// Results.
	sf_fleet                     *j_result;
	Svcfleet__V1__ApplyAction     j_action;
	Svcfleet__V1__FleetRendered **j_rendered;
	size_t                        j_nrendered;
	bool                          j_wrote;
	bool                          j_changed; // resync: something changed
	// i19-ssd: a dry-run apply whose copies each cluster's API server
	// dry-runs too.
	bool j_server_side;
	// i17-bulk: the copies are made off the writer, from the store.
	sf_server *j_srv;
	bool       j_dry; // a dry run: nothing commits
	// i17-bulk: the placed clusters' copies, rendered and validated
	// before the write was queued (fleet_prepare), off the writer.
	struct fl_pre *j_pre;
	size_t         j_npre;
	// The writer found a cluster's record changed since (fl_stale): the
	// copies are made again off the writer, at most fl_revalidate_max
	// times.
	bool j_stale;
	int  j_revalidations;
	// The apply was refused by fleet_prepare (the call's status says
	// why, kept in the arena by fl_keep): the writer only records it.
	bool          j_pre_failed;
	int           j_pre_code;
	char         *j_pre_msg;
	sf_violation *j_pre_viol;
	size_t        j_pre_nviol, j_pre_more;
} fleet_job;

// How often a write is prepared again because a placed cluster's record
// changed under it: 3, and one more per placed cluster, whose record may
// change once while a FleetService is applied for a reason of its own (a
// reconciler's first report of its MetalLB pools: with ten clusters
// starting, three were not enough and applies failed ABORTED). At most
// 64: each time costs a rendering of every copy.
#define FL_REVALIDATE_BASE 3
#define FL_REVALIDATE_CAP  64

static int
fl_revalidate_max(const fleet_job *j)
{
	size_t n = FL_REVALIDATE_BASE + j->j_npre;
	return (n < FL_REVALIDATE_CAP ? (int) n : FL_REVALIDATE_CAP);
}

// One placed cluster's copy as fleet_prepare made it.
typedef struct fl_pre {
	const char *pr_cluster;
	// What rendering and validation read of the cluster's record
	// (sf__srv_cluster_basis), NULL when there was none.
	uint8_t *pr_basis;
	size_t   pr_basis_len;
	// The copy, rendered, defaulted and validated, packed; NULL when it
	// is skipped (lenient: pr_skip says why).
	uint8_t    *pr_svc;
	size_t      pr_svc_len;
	const char *pr_skip;
} fl_pre;

typedef struct fl_placed {
	Svcfleet__V1__Cluster *p_cl;  // settings, from the txn
	sf_service            *p_svc; // rendered copy (NULL: skipped)
	sf_service            *p_old; // stored Service of that name
	Svcfleet__V1__FleetClusterStatus *p_st;
	uint32_t p_part; // i18-wide: the part of the write its keys are in
} fl_placed;

static Svcfleet__V1__FleetClusterStatus *
status_new(
    sf_arena *a, const char *cluster, const char *placement, const char *msg)
{
	Svcfleet__V1__FleetClusterStatus *s = sf_arena_zalloc(a, sizeof(*s));
	if (s != NULL) {
		svcfleet__v1__fleet_cluster_status__init(s);
		s->cluster   = (char *) cluster;
		s->placement = (char *) placement;
		s->message   = (char *) (msg != NULL ? msg : "");
	}
	return (s);
}

static int
rendered_add(
    fleet_job *j, const char *cluster, sf_service *svc, const char *action)
{
	Svcfleet__V1__FleetRendered *r
	    = sf_arena_zalloc(j->j_arena, sizeof(*r));
	Svcfleet__V1__FleetRendered **arr
	    = grow(j->j_arena, j->j_rendered, j->j_nrendered, sizeof(*arr));
	if (r == NULL || arr == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	svcfleet__v1__fleet_rendered__init(r);
	r->cluster            = (char *) cluster;
	r->service            = svc;
	r->action             = (char *) action;
	arr[j->j_nrendered++] = r;
	j->j_rendered         = arr;
	return (0);
}

// Is port/protocol free in cluster for the copy ns/name: not in the
// store's node-port index for another Service, and not among the ports
// the cluster reported in use (its own Services included, unless the
// port is already this copy's)?
static int
port_free(sf_store_txn *txn, sf_arena *a, const Svcfleet__V1__Cluster *cl,
    const char *protocol, int32_t port, const char *ns, const char *name,
    bool *free_out)
{
	sf_store_key owner;
	int          rv = sf_store_txn_nodeport_owner(
	             txn, cl->name, protocol, port, sf_arena_pbc(a), &owner);
	if (rv == 0) {
		*free_out = strcmp(owner.k_namespace, ns) == 0
		    && strcmp(owner.k_name, name) == 0;
		return (0);
	}
	if (rv != SF_NOT_FOUND) {
		return (rv);
	}
	*free_out = true;
	if (cl->health != NULL && cl->health->used_node_ports_known) {
		for (size_t i = 0; i < cl->health->n_used_node_ports; i++) {
			if (cl->health->used_node_ports[i] == port) {
				*free_out = false;
			}
		}
	}
	return (0);
}

// Is cand free for this FleetService's copy in every placed cluster that
// uses node ports? Where it is taken: with drop (a port kept or asked for,
// placed leniently) that cluster's copy reports the conflict and is left
// out while the others keep cand; otherwise the search ends at that
// cluster with *ok false, and "cluster: cand" goes into blocked (when
// given, up to about 300 bytes). The one check both the kept or requested
// port and the search for a free one make.
static int
port_free_everywhere(sf_store_txn *txn, sf_arena *a, fl_placed *pl, size_t npl,
    const char *proto, int32_t cand, const sf_fleet *fs, bool drop,
    sf_buf *blocked, bool *ok, sf_status *st)
{
	const char *ns = fs->metadata->namespace_;
	const char *nm = fs->metadata->name;

	*ok = true;
	for (size_t i = 0; i < npl; i++) {
		bool f;
		int  rv;
		if (pl[i].p_svc == NULL || !uses_node_ports(pl[i].p_svc)) {
			continue;
		}
		sf_store_txn_part(txn, pl[i].p_part);
		rv = port_free(txn, a, pl[i].p_cl, proto, cand, ns, nm, &f);
		sf_store_txn_part(txn, 0);
		if (rv != 0) {
			return (sf_status_set(
			    st, rv, "node-port index: %s", sf_status_str(rv)));
		}
		if (f) {
			continue;
		}
		if (drop) {
			pl[i].p_st->placement = "Conflict";
			pl[i].p_st->message   = sf_arena_printf(a,
			      "node port %d (%s) is taken in cluster %s", cand,
			      proto, pl[i].p_cl->name);
			pl[i].p_svc           = NULL;
			continue;
		}
		if (blocked != NULL && blocked->b_len < 300) {
			sf_buf_printf(blocked, "%s%s: %d",
			    blocked->b_len > 0 ? ", " : "", pl[i].p_cl->name,
			    cand);
		}
		*ok = false;
		return (0);
	}
	return (0);
}

// nodePorts: Same. Keeps the ports chosen before where they are still free
// everywhere (and asks for them anyway in strict mode, so the conflict is
// named); otherwise picks the lowest port free in every placed cluster
// within the intersection of their ranges.
static int
same_ports(sf_store_txn *txn, fleet_job *j, sf_fleet *fs, fl_placed *pl,
    size_t npl, bool strict, sf_status *st)
{
	sf_arena   *a      = j->j_arena;
	size_t      nports = 0;
	sf_service *first  = NULL;
	int32_t     lo = 0, hi = 65535;

	for (size_t i = 0; i < npl; i++) {
		if (pl[i].p_svc != NULL && uses_node_ports(pl[i].p_svc)) {
			first = first != NULL ? first : pl[i].p_svc;
			lo = lo > np_min(pl[i].p_cl) ? lo : np_min(pl[i].p_cl);
			hi = hi < np_max(pl[i].p_cl) ? hi : np_max(pl[i].p_cl);
		}
	}
	if (first == NULL) {
		return (0);
	}
	nports          = first->spec->n_ports;
	int32_t *chosen = sf_arena_zalloc(a, (nports + 1) * sizeof(int32_t));
	if (chosen == NULL) {
		return (oom(st));
	}
	for (size_t p = 0; p < nports; p++) {
		const char *proto = sf_nz(first->spec->ports[p]->protocol);
		int32_t     want  = first->spec->ports[p]->node_port;
		int32_t     kept
		    = p < fs->n_same_node_ports ? fs->same_node_ports[p] : 0;
		int32_t tries    = 0;
		sf_buf  block    = SF_BUF_INIT;
		int32_t cands[2] = {want, kept};
		int32_t pick     = 0;
		int     rv;

		// An explicit nodePort in the template, or the one kept,
		// first. Strictly, a taken explicit port fails the write
		// naming the cluster; a taken kept one is searched past.
		for (int c = 0; c < 2 && pick == 0; c++) {
			int32_t cand = cands[c];
			bool    ok   = false;
			if (cand >= lo && cand <= hi
			    && (rv = port_free_everywhere(txn, a, pl, npl,
			            proto, cand, fs, !strict,
			            c == 0 ? &block : NULL, &ok, st))
			        != 0) {
				sf_buf_fini(&block);
				return (rv);
			}
			if (ok) {
				pick = cand;
			}
			if (c == 0 && cand != 0 && block.b_len > 0) {
				sf_status_set(st, SF_FAILED_PRECONDITION,
				    "nodePorts Same: port %d of "
				    "spec.ports[%zu] "
				    "is taken in %s",
				    cand, p, sf_buf_cstr(&block));
				sf_buf_fini(&block);
				return (SF_FAILED_PRECONDITION);
			}
		}
		for (int32_t cand = lo;
		     pick == 0 && cand <= hi && tries < SAME_PORT_TRIES;
		     cand++, tries++) {
			bool ok = true;
			for (size_t q = 0; q < p; q++) {
				ok = ok && chosen[q] != cand;
			}
			if (ok
			    && (rv = port_free_everywhere(txn, a, pl, npl,
			            proto, cand, fs, false, &block, &ok, st))
			        != 0) {
				sf_buf_fini(&block);
				return (rv);
			}
			if (ok) {
				pick = cand;
			}
		}
		if (pick == 0) {
			sf_status_set(st, SF_FAILED_PRECONDITION,
			    "nodePorts Same: no node port in %d-%d is free in "
			    "every placed cluster for spec.ports[%zu]; "
			    "blocked: %s",
			    lo, hi, p, sf_buf_cstr(&block));
			sf_buf_fini(&block);
			return (SF_FAILED_PRECONDITION);
		}
		sf_buf_fini(&block);
		chosen[p] = pick;
		for (size_t i = 0; i < npl; i++) {
			if (pl[i].p_svc != NULL && uses_node_ports(pl[i].p_svc)
			    && p < pl[i].p_svc->spec->n_ports) {
				pl[i].p_svc->spec->ports[p]->node_port = pick;
			}
		}
	}
	fs->same_node_ports   = chosen;
	fs->n_same_node_ports = nports;
	return (0);
}

// Requested nodePorts must not be requested by another Service of the
// cluster (the store refuses the second one).
static int
check_node_ports(
    sf_store_txn *txn, sf_arena *a, const sf_service *svc, sf_status *cst)
{
	for (size_t i = 0; i < svc->spec->n_ports; i++) {
		const sf_service_port *p = svc->spec->ports[i];
		sf_store_key           owner;
		int                    rv;
		if (p->node_port == 0) {
			continue;
		}
		rv = sf_store_txn_nodeport_owner(txn, svc->metadata->cluster,
		    sf_nz(p->protocol), p->node_port, sf_arena_pbc(a), &owner);
		if (rv == SF_NOT_FOUND) {
			continue;
		}
		if (rv != 0) {
			return (rv);
		}
		if (strcmp(owner.k_namespace, svc->metadata->namespace_) == 0
		    && strcmp(owner.k_name, svc->metadata->name) == 0) {
			continue;
		}
		char f[64];
		snprintf(f, sizeof(f), "spec.ports[%zu].nodePort", i);
		sf_status_violation(cst, SF_V_INVALID, f,
		    "Invalid value: %d: provided port is already requested by "
		    "service \"%s/%s\"",
		    p->node_port, owner.k_namespace, owner.k_name);
	}
	return (0);
}

// The address plan: an address is requested by one cluster's Service
// unless each copy that requests it asks to share it. Checks the copies
// of this FleetService against each other and against the claims of the
// others, read in this write (fleet_addrs.c). Returns 0 or a store error
// (st set).
static int
check_addresses(sf_store_txn *txn, fleet_job *j, sf_fleet *fs, fl_placed *pl,
    size_t npl, bool strict, sf_status *st)
{
	const char *id = fleet_id(
	    j->j_arena, fs->metadata->namespace_, fs->metadata->name);
	if (id == NULL) {
		return (oom(st));
	}
	for (size_t i = 0; i < npl; i++) {
		const char **it;
		size_t       nit;
		const char  *clash = NULL, *addr = NULL;
		bool         shared;
		const char  *key;
		int          rv;

		if (pl[i].p_svc == NULL
		    || address_of(pl[i].p_svc)[0] == '\0') {
			continue;
		}
		sf__srv_fleet_addrs_share(fs, pl[i].p_svc, &shared, &key);
		if (sf__srv_fleet_addrs_split(
		        j->j_arena, address_of(pl[i].p_svc), &it, &nit)
		    != 0) {
			return (oom(st));
		}
		for (size_t x = 0; x < nit && clash == NULL; x++) {
			sf__srv_addr_want w = {.aw_addr = it[x],
			    .aw_cluster                 = pl[i].p_cl->name,
			    .aw_shared                  = shared,
			    .aw_key                     = key};
			addr                = it[x];
			for (size_t k = 0; k < i && clash == NULL; k++) {
				const char **kt;
				size_t       nkt;
				bool         ks;
				const char  *kk;
				if (pl[k].p_svc == NULL) {
					continue;
				}
				if (sf__srv_fleet_addrs_split(j->j_arena,
				        address_of(pl[k].p_svc), &kt, &nkt)
				    != 0) {
					return (oom(st));
				}
				sf__srv_fleet_addrs_share(
				    fs, pl[k].p_svc, &ks, &kk);
				for (size_t y = 0; y < nkt; y++) {
					if (strcmp(kt[y], addr) == 0
					    && !sf__srv_fleet_addrs_can_share(
					        ks, kk, shared, key)) {
						clash = sf_arena_printf(
						    j->j_arena,
						    "cluster %s of this "
						    "FleetService",
						    pl[k].p_cl->name);
						break;
					}
				}
			}
			if (clash == NULL
			    && (rv = sf__srv_fleet_addrs_clash(
			            txn, j->j_arena, id, &w, &clash))
			        != 0) {
				return (sf_status_set(st, rv,
				    "reading the claim of address %s failed",
				    addr));
			}
		}
		if (clash == NULL) {
			continue;
		}
		if (strict) {
			char f[128];
			snprintf(f, sizeof(f),
			    "clusters[%s].spec.loadBalancerIP",
			    pl[i].p_cl->name);
			sf_status_violation(st, SF_V_DUPLICATE, f,
			    "Duplicate value: \"%s\": the address is already "
			    "requested by %s (set spec.shareAddresses: true "
			    "or "
			    "the allow-shared-ip annotation on both to share "
			    "it)",
			    addr, clash);
		} else {
			pl[i].p_st->placement = "Conflict";
			pl[i].p_st->message   = sf_arena_printf(j->j_arena,
			      "address %s is already requested by %s", addr,
			      clash);
			pl[i].p_svc           = NULL;
		}
	}
	void (*hook)(const char *) = sf__srv_fleet_addrs_hook;
	if (hook != NULL) {
		hook(id);
	}
	return (0);
}

// Claims the addresses of the copies written (and gives up those no
// longer requested, as old's status lists them); each claim names the
// copy's place in fs's status.
static int
claim_addresses(sf_store_txn *txn, fleet_job *j, const sf_fleet *fs,
    fl_placed *pl, size_t npl, const sf_fleet *old, sf_status *st)
{
	sf_arena          *a = j->j_arena;
	sf__srv_addr_want *want;
	size_t             n = 0, cap = 0;
	const char        *id
	    = fleet_id(a, fs->metadata->namespace_, fs->metadata->name);
	int rv;

	for (size_t k = 0; k < npl; k++) {
		const char *s
		    = pl[k].p_svc != NULL ? address_of(pl[k].p_svc) : "";
		cap += s[0] != '\0' ? 1 : 0;
		for (; *s != '\0'; s++) {
			cap += *s == ',' ? 1 : 0;
		}
	}
	want = sf_arena_zalloc(a, (cap + 1) * sizeof(*want));
	if (id == NULL || want == NULL) {
		return (oom(st));
	}
	for (size_t k = 0; k < npl; k++) {
		const char **it;
		size_t       nit;
		bool         shared;
		const char  *key;
		uint32_t     pos = 0;

		if (pl[k].p_svc == NULL
		    || address_of(pl[k].p_svc)[0] == '\0') {
			continue;
		}
		if (sf__srv_fleet_addrs_split(
		        a, address_of(pl[k].p_svc), &it, &nit)
		    != 0) {
			return (oom(st));
		}
		for (size_t i = 0; i < fs->n_status; i++) {
			if (fs->status[i] == pl[k].p_st) {
				pos = (uint32_t) i;
			}
		}
		sf__srv_fleet_addrs_share(fs, pl[k].p_svc, &shared, &key);
		for (size_t x = 0; x < nit && n < cap; x++) {
			want[n].aw_addr    = it[x];
			want[n].aw_cluster = pl[k].p_cl->name;
			want[n].aw_pos     = pos;
			want[n].aw_shared  = shared;
			want[n].aw_key     = key;
			n++;
		}
	}
	rv = sf__srv_fleet_addrs_claim(txn, a, id, want, n, old);
	if (rv != 0) {
		return (
		    sf_status_set(st, rv, "claiming the addresses failed"));
	}
	return (0);
}

// Writes one copy (create or update); *action says which, or "unchanged".
static int
write_copy(sf_store_txn *txn, fleet_job *j, fl_placed *p, const char **action,
    sf_status *st)
{
	sf_service     *nw = p->p_svc, *old = p->p_old;
	sf_object_meta *nm = nw->metadata;
	int             rv;

	nm->updated_by = (char *) j->j_user;
	if (old == NULL) {
		nm->created_by = (char *) j->j_user;
		*action        = "create";
		if ((rv = sf_store_txn_service_put(txn, nw, true)) != 0) {
			return (sf_status_set(st, rv,
			    "storing the copy for cluster %s failed",
			    p->p_cl->name));
		}
		j->j_changed = true;
		return (0);
	}
	sf_object_meta *om = old->metadata;
	// i18-plan: an adopted plain Service gives up its own claims (the
	// FleetService claims what its copy asks for, below).
	// Claims are written with the FleetService's record (i18-wide).
	sf_store_txn_part(txn, 0);
	rv = sf_nz(om->owner)[0] == '\0'
	    ? sf__srv_svc_addrs_claim(txn, j->j_arena, old, NULL)
	    : 0;
	sf_store_txn_part(txn, p->p_part);
	if (rv != 0) {
		return (sf_status_set(
		    st, rv, "giving up the adopted Service's address failed"));
	}
	nm->uid              = om->uid;
	nm->generation       = om->generation;
	nm->create_time_ms   = om->create_time_ms;
	nm->created_by       = om->created_by;
	nm->deleting         = om->deleting;
	nm->delete_time_ms   = om->delete_time_ms;
	nm->finalizers       = om->finalizers;
	nm->n_finalizers     = om->n_finalizers;
	nm->update_time_ms   = om->update_time_ms;
	nm->resource_version = om->resource_version;
	nw->status           = old->status;
	nw->n_status         = old->n_status;
	bool spec_same       = sf_model_spec_equal(old->spec, nw->spec);
	if (spec_same && fl_streq(om->owner, nm->owner)
	    && sf_model_kvs_equal(
	        om->labels, om->n_labels, nm->labels, nm->n_labels)
	    && sf_model_kvs_equal(om->annotations, om->n_annotations,
	        nm->annotations, nm->n_annotations)) {
		*action  = "unchanged";
		p->p_svc = old;
		return (0);
	}
	*action = "update";
	if (!spec_same) {
		for (size_t i = 0; i < nw->n_status; i++) {
			if (nw->status[i]->state
			    != SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING) {
				nw->status[i]->state
				    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_PENDING;
				nw->status[i]->message = "";
			}
		}
	}
	if ((rv = sf_store_txn_service_put(txn, nw, false)) != 0) {
		return (sf_status_set(st, rv,
		    "storing the copy for cluster %s failed", p->p_cl->name));
	}
	j->j_changed = true;
	return (0);
}

// Prunes the copy in cluster: through the finalizer path, as
// DeleteService does.
static int
prune_copy(sf_store_txn *txn, fleet_job *j, const char *cluster,
    const sf_fleet *fs, const char *owner, sf_status *st)
{
	sf_store_key k
	    = {cluster, fs->metadata->namespace_, fs->metadata->name};
	sf_service *old;
	int         rv;

	rv = sf_store_txn_service_get(txn, &k, sf_arena_pbc(j->j_arena), &old);
	if (rv == SF_NOT_FOUND) {
		return (0);
	}
	if (rv != 0) {
		return (sf_status_set(st, rv, "reading a copy failed"));
	}
	if (!fl_streq(old->metadata->owner, owner)) {
		return (0); // not ours (anymore)
	}
	j->j_changed = true;
	if (old->metadata->n_finalizers == 0) {
		if ((rv = sf_store_txn_service_delete(txn, &k)) != 0) {
			return (sf_status_set(st, rv, "pruning failed"));
		}
		return (0);
	}
	if (old->metadata->deleting) {
		return (0);
	}
	old->metadata->deleting       = true;
	old->metadata->delete_time_ms = sf_store_txn_now_ms(txn);
	old->metadata->updated_by     = (char *) j->j_user;
	for (size_t i = 0; i < old->n_status; i++) {
		old->status[i]->state
		    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_DELETING;
	}
	if ((rv = sf_store_txn_service_put(txn, old, false)) != 0) {
		return (sf_status_set(st, rv, "pruning failed"));
	}
	return (0);
}

static bool
was_placed(const sf_fleet *old, const char *cluster)
{
	for (size_t i = 0; old != NULL && i < old->n_status; i++) {
		if (fl_streq(old->status[i]->cluster, cluster)
		    && fl_streq(old->status[i]->placement, "Placed")) {
			return (true);
		}
	}
	return (false);
}

// ----------------------------------- copies made before the write
// (i17-bulk; issue 17, finding 3) Every placed cluster's copy is rendered
// and validated before the write is queued, never on the store's writer:
// on the thread serving the apply (a worker, or the bulk thread for a
// large one), on the placement loop's own thread for a resync. The writer
// gets each copy packed with what its rendering and validation read of
// the cluster's record (sf__srv_cluster_basis); it finds that unchanged, or
// sends the write back to be prepared again (fl_stale), and does only what
// needs the stored state: the record's version, node ports (the index, "Same"
// ports and their range), existing Services of the name, addresses.

// fl_stale: a cluster's record is not what its copy was made from. The
// write is marked to be prepared again (fleet_done, off the writer)
// unless it has been fl_revalidate_max times, and answers ABORTED for now.
static int
fl_stale(fleet_job *j, const char *name, const char *cluster, sf_status *st)
{
	if (j->j_revalidations < fl_revalidate_max(j)) {
		j->j_stale = true;
		if (j->j_call != NULL) {
			j->j_call->c_revalidate = true;
		}
	}
	return (sf_status_set(st, SF_ABORTED,
	    "Operation cannot be fulfilled on fleetservices \"%s\": cluster "
	    "\"%s\" was modified while the copies were validated; please "
	    "try again",
	    sf_nz(name), cluster));
}

// Validates copy svc against lim into cst. With "Same" node ports the
// writer picks them later (same_ports) and checks only them then
// (sf_model_service_validate_node_ports): here they count as unset.
static int
fl_validate(sf_arena *a, sf_service *svc, const sf_model_limits *lim,
    bool same, sf_status *cst)
{
	int32_t *kept = NULL;
	size_t   n    = svc->spec->n_ports;
	int      rv;

	if (same && uses_node_ports(svc) && n > 0) {
		if ((kept = sf_arena_alloc(a, n * sizeof(*kept))) == NULL) {
			return (SF_RESOURCE_EXHAUSTED);
		}
		for (size_t i = 0; i < n; i++) {
			kept[i] = svc->spec->ports[i]->node_port;
			svc->spec->ports[i]->node_port = 0;
		}
	}
	rv = sf_model_service_validate(svc, lim, cst);
	for (size_t i = 0; kept != NULL && i < n; i++) {
		svc->spec->ports[i]->node_port = kept[i];
	}
	return (rv == SF_RESOURCE_EXHAUSTED ? rv : 0);
}

// fleet_prepare makes the copies of fs for every cluster of j's list it
// places (off the writer, see above) into j_pre. Strict (an apply): any
// violation, each prefixed with its cluster, goes to st and fails it;
// lenient (a resync): a copy that is not valid is skipped, and why is
// kept. Returns 0 or the code set in st.
static int
fleet_prepare(fleet_job *j, const sf_fleet *fs, bool strict, sf_status *st)
{
	sf_arena               *a    = j->j_arena;
	bool                    same = fl_streq(fs->spec->node_ports, "Same");
	Svcfleet__V1__Cluster **recs;
	int                     rv;

	j->j_npre = 0;
	j->j_pre  = sf_arena_zalloc(a, (j->j_nclusters + 1) * sizeof(fl_pre));
	recs      = sf_arena_zalloc(a, (j->j_nclusters + 1) * sizeof(*recs));
	if (j->j_pre == NULL || recs == NULL) {
		return (oom(st));
	}
	for (size_t c = 0; c < j->j_nclusters; c++) {
		Svcfleet__V1__Cluster *cl = NULL;
		fl_pre                *e;
		sf_service            *svc = NULL;
		sf_model_limits        lim;
		sf_status              cst;
		if (!sf_model_fleet_places(fs, j->j_clusters[c])) {
			continue;
		}
		// Rendering and validating many copies is long work.
		if (j->j_call != NULL && sf__srv_call_expired(j->j_call)) {
			return (sf_status_set(st, SF_DEADLINE_EXCEEDED,
			    "the deadline passed while the copies were "
			    "validated; nothing was written"));
		}
		e             = &j->j_pre[j->j_npre++];
		e->pr_cluster = j->j_clusters[c]->name;
		rv            = sf_store_cluster_spec_get(
		               j->j_srv->s_store, e->pr_cluster, sf_arena_pbc(a), &cl);
		if (rv == SF_NOT_FOUND) {
			continue; // gone: the writer finds it gone too
		}
		if (rv != 0) {
			return (sf_status_set(st, rv,
			    "reading cluster \"%s\" failed", e->pr_cluster));
		}
		recs[c] = cl;
		e->pr_basis
		    = sf__srv_cluster_basis(cl, true, a, &e->pr_basis_len);
		if (e->pr_basis == NULL) {
			return (oom(st));
		}
		sf_status_init(&cst);
		rv = sf_model_fleet_render(fs, cl, a, &svc, &cst);
		if (rv == 0 && svc != NULL) {
			limits_of(cl, &lim);
			svc->metadata->created_by = (char *) j->j_user;
			rv = fl_validate(a, svc, &lim, same, &cst);
		}
		if (rv != 0) {
			sf_status_fini(&cst);
			return (oom(st));
		}
		if (cst.st_nviol > 0) {
			if (strict) {
				prefix_move(st, &cst, cl->name);
			} else {
				e->pr_skip = viol_text(a, &cst);
			}
			sf_status_fini(&cst);
			continue;
		}
		sf_status_fini(&cst);
		e->pr_svc_len = svcfleet__v1__service__get_packed_size(svc);
		if ((e->pr_svc = sf_arena_alloc(a, e->pr_svc_len + 1))
		    == NULL) {
			return (oom(st));
		}
		svcfleet__v1__service__pack(svc, e->pr_svc);
	}
	// An override must select a placed cluster.
	for (size_t i = 0; strict && i < fs->spec->n_overrides; i++) {
		bool any = false;
		for (size_t c = 0; c < j->j_nclusters; c++) {
			any = any
			    || (recs[c] != NULL
			        && sf_model_fleet_override_selects(
			            fs->spec->overrides[i], recs[c]));
		}
		if (!any) {
			char f[64];
			snprintf(f, sizeof(f), "spec.overrides[%zu]", i);
			sf_status_violation(st, SF_V_INVALID, f,
			    "Invalid value: the override selects no placed "
			    "cluster");
		}
	}
	if (st->st_nviol > 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "FleetService \"%s\" is invalid: %s: %s",
		    sf_nz(fs->metadata->name), st->st_viol[0].v_field,
		    st->st_viol[0].v_reason));
	}
	return (0);
}

// The heart: see the file's comment. fs is the new desired state (its
// metadata completed by the caller), old the stored one or NULL.
static int
fleet_sync(sf_store_txn *txn, fleet_job *j, sf_fleet *fs, sf_fleet *old,
    bool strict, sf_status *st)
{
	sf_arena                          *a     = j->j_arena;
	const char                        *ns    = fs->metadata->namespace_;
	const char                        *name  = fs->metadata->name;
	const char                        *owner = owner_of(a, name);
	fl_placed                         *pl;
	size_t                             npl = 0;
	Svcfleet__V1__FleetClusterStatus **sts;
	size_t                             nsts = 0;
	int                                rv;

	pl  = sf_arena_zalloc(a, (j->j_npre + 1) * sizeof(*pl));
	sts = sf_arena_zalloc(a,
	    (j->j_npre + fs->spec->placement->n_clusters + 1) * sizeof(*sts));
	if (pl == NULL || sts == NULL || owner == NULL) {
		return (oom(st));
	}
	// Named clusters that are not registered are reported, not placed.
	for (size_t i = 0; i < fs->spec->placement->n_clusters; i++) {
		const char *cn    = fs->spec->placement->clusters[i];
		bool        known = false;
		for (size_t c = 0; c < j->j_nclusters; c++) {
			known = known || fl_streq(j->j_clusters[c]->name, cn);
		}
		if (!known) {
			sts[nsts++] = status_new(
			    a, cn, "Skipped", "cluster is not registered");
		}
	}
	// The copies made before the write (fleet_prepare), each from the
	// cluster's record as it still is.
	for (size_t c = 0; c < j->j_npre; c++) {
		const fl_pre *e = &j->j_pre[c];
		fl_placed    *p = &pl[npl];
		uint8_t      *b;
		size_t        blen;
		// i18-wide: each placed cluster's keys are a part of the
		// write of their own; the store puts as many as fit with
		// the head (sf_store_txn_part).
		p->p_part = (uint32_t) c + 1;
		sf_store_txn_part(txn, p->p_part);
		rv = sf_store_txn_cluster_spec_get(
		    txn, e->pr_cluster, sf_arena_pbc(a), &p->p_cl);
		sf_store_txn_part(txn, 0);
		if (rv == SF_NOT_FOUND) {
			if (e->pr_basis != NULL) {
				return (fl_stale(j, name, e->pr_cluster, st));
			}
			continue;
		}
		if (rv != 0) {
			return (
			    sf_status_set(st, rv, "reading cluster failed"));
		}
		if ((b = sf__srv_cluster_basis(p->p_cl, true, a, &blen))
		    == NULL) {
			return (oom(st));
		}
		if (e->pr_basis == NULL || blen != e->pr_basis_len
		    || memcmp(b, e->pr_basis, blen) != 0) {
			return (fl_stale(j, name, e->pr_cluster, st));
		}
		p->p_st = status_new(a, p->p_cl->name, "Placed", "");
		if (p->p_st == NULL) {
			return (oom(st));
		}
		sts[nsts++] = p->p_st;
		npl++;
		if (e->pr_svc == NULL) {
			p->p_st->placement = "Skipped";
			p->p_st->message   = (char *) sf_nz(e->pr_skip);
			continue;
		}
		// A fresh copy each time: a retried batch runs this again.
		p->p_svc = svcfleet__v1__service__unpack(
		    sf_arena_pbc(a), e->pr_svc_len, e->pr_svc);
		if (p->p_svc == NULL) {
			return (oom(st));
		}
	}
	if (strcmp(sf_nz(fs->spec->node_ports), "Same") == 0) {
		if ((rv = same_ports(txn, j, fs, pl, npl, strict, st)) != 0) {
			return (rv);
		}
		// The copies were validated with these unset: the ports
		// picked are checked now, and nothing else.
		for (size_t k = 0; k < npl; k++) {
			sf_model_limits lim;
			sf_status       cst;
			if (pl[k].p_svc == NULL) {
				continue;
			}
			limits_of(pl[k].p_cl, &lim);
			sf_status_init(&cst);
			if (sf_model_service_validate_node_ports(
			        pl[k].p_svc, &lim, &cst)
			    == SF_RESOURCE_EXHAUSTED) {
				sf_status_fini(&cst);
				return (oom(st));
			}
			if (cst.st_nviol > 0) {
				if (strict) {
					prefix_move(
					    st, &cst, pl[k].p_cl->name);
				} else {
					pl[k].p_st->placement = "Skipped";
					pl[k].p_st->message
					    = viol_text(a, &cst);
				}
				pl[k].p_svc = NULL;
			}
			sf_status_fini(&cst);
		}
	}
	// Existing Services of the name, node ports, addresses.
	for (size_t k = 0; k < npl; k++) {
		fl_placed   *p   = &pl[k];
		sf_store_key key = {p->p_cl->name, ns, name};
		sf_status    cst;
		if (p->p_svc == NULL) {
			continue;
		}
		sf_store_txn_part(txn, p->p_part);
		rv = sf_store_txn_service_get(
		    txn, &key, sf_arena_pbc(a), &p->p_old);
		if (rv == SF_NOT_FOUND) {
			p->p_old = NULL;
		} else if (rv != 0) {
			return (
			    sf_status_set(st, rv, "reading a copy failed"));
		} else if (!fl_streq(p->p_old->metadata->owner, owner)) {
			const char *o = sf_nz(p->p_old->metadata->owner);
			if (o[0] == '\0' && fs->spec->adopt) {
				// Adopted: it becomes an owned copy.
			} else {
				p->p_st->placement = "Conflict";
				p->p_st->message   = o[0] != '\0'
				      ? sf_arena_printf(a,
				          "service %s/%s in cluster %s is "
				            "owned by %s",
				          ns, name, p->p_cl->name, o)
				      : sf_arena_printf(a,
				          "an unowned service %s/%s exists in "
				            "cluster %s; set spec.adopt: true "
				            "to take it over",
				          ns, name, p->p_cl->name);
				p->p_svc           = NULL;
				continue;
			}
		} else if (p->p_old->metadata->deleting) {
			p->p_st->placement = "Skipped";
			p->p_st->message = "the previous copy is still being "
			                   "deleted; placed again once it is "
			                   "gone";
			p->p_svc         = NULL;
			continue;
		}
		sf_status_init(&cst);
		sf_store_txn_part(txn, p->p_part);
		if ((rv = check_node_ports(txn, a, p->p_svc, &cst)) != 0) {
			sf_status_fini(&cst);
			return (
			    sf_status_set(st, rv, "node-port index failed"));
		}
		if (cst.st_nviol > 0) {
			if (strict) {
				prefix_move(st, &cst, p->p_cl->name);
			} else {
				p->p_st->placement = "Conflict";
				p->p_st->message   = viol_text(a, &cst);
			}
			p->p_svc = NULL;
		}
		sf_status_fini(&cst);
	}
	// The address claims are read and written in the head: one
	// transaction with the FleetService's record (i18-wide).
	sf_store_txn_part(txn, 0);
	if ((rv = check_addresses(txn, j, fs, pl, npl, strict, st)) != 0) {
		return (rv);
	}
	if (st->st_nviol > 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "FleetService \"%s\" is invalid: %s: %s", name,
		    st->st_viol[0].v_field, st->st_viol[0].v_reason));
	}
	// Nothing failed: write.
	for (size_t k = 0; k < npl; k++) {
		fl_placed  *p      = &pl[k];
		const char *action = "skip";
		if (p->p_svc != NULL) {
			sf_store_txn_part(txn, p->p_part);
			if ((rv = write_copy(txn, j, p, &action, st)) != 0) {
				return (rv);
			}
			p->p_st->lb_address = (char *) address_of(p->p_svc);
		}
		if ((rv = rendered_add(j, p->p_cl->name, p->p_svc, action))
		    != 0) {
			return (oom(st));
		}
	}
	// Prune the clusters no longer placed.
	for (size_t i = 0; old != NULL && i < old->n_status; i++) {
		const char *cn   = old->status[i]->cluster;
		bool        kept = false;
		for (size_t k = 0; k < npl; k++) {
			kept = kept || fl_streq(pl[k].p_cl->name, cn);
		}
		if (kept || !was_placed(old, cn)) {
			continue;
		}
		sf_store_txn_part(txn, (uint32_t) (j->j_npre + 1 + i));
		if ((rv = prune_copy(txn, j, cn, fs, owner, st)) != 0) {
			return (rv);
		}
		if (rendered_add(j, cn, NULL, "prune") != 0) {
			return (oom(st));
		}
	}
	sf_store_txn_part(txn, 0);
	fs->status   = sts;
	fs->n_status = nsts;
	fs->placed   = 0;
	for (size_t i = 0; i < nsts; i++) {
		fs->placed += fl_streq(sts[i]->placement, "Placed") ? 1 : 0;
	}
	return (claim_addresses(txn, j, fs, pl, npl, old, st));
}

static bool
status_equal(const sf_fleet *x, const sf_fleet *y)
{
	if (x->n_status != y->n_status) {
		return (false);
	}
	for (size_t i = 0; i < x->n_status; i++) {
		if (!fl_streq(x->status[i]->cluster, y->status[i]->cluster)
		    || !fl_streq(
		        x->status[i]->placement, y->status[i]->placement)
		    || !fl_streq(x->status[i]->message, y->status[i]->message)
		    || !fl_streq(
		        x->status[i]->lb_address, y->status[i]->lb_address)) {
			return (false);
		}
	}
	return (true);
}

static bool
spec_equal(const sf_fleet *x, const sf_fleet *y)
{
	size_t nx = svcfleet__v1__fleet_service_spec__get_packed_size(x->spec);
	size_t ny = svcfleet__v1__fleet_service_spec__get_packed_size(y->spec);
	uint8_t *bx, *by;
	bool     eq;
	if (nx != ny) {
		return (false);
	}
	bx = malloc(nx + 1);
	by = malloc(ny + 1);
	if (bx == NULL || by == NULL) {
		free(bx);
		free(by);
		return (false);
	}
	svcfleet__v1__fleet_service_spec__pack(x->spec, bx);
	svcfleet__v1__fleet_service_spec__pack(y->spec, by);
	eq = memcmp(bx, by, nx) == 0;
	free(bx);
	free(by);
	return (eq);
}

static int
put_record(
    sf_store_txn *txn, fleet_job *j, sf_fleet *fs, bool create, sf_status *st)
{
	const char *id = fleet_id(
	    j->j_arena, fs->metadata->namespace_, fs->metadata->name);
	int rv;
	if (id == NULL) {
		return (oom(st));
	}
	fs->metadata->resource_version = sf_store_txn_revision(txn);
	fs->metadata->update_time_ms   = sf_store_txn_now_ms(txn);
	rv                             = sf_store_txn_record_put(
	                                txn, SF_STORE_FLEET, id, &fs->base, create);
	if (rv == SF_ALREADY_EXISTS) {
		return (sf_status_set(st, SF_ALREADY_EXISTS,
		    "fleetservice \"%s\" already exists", fs->metadata->name));
	}
	if (rv != 0) {
		return (
		    sf_status_set(st, rv, "storing the FleetService failed"));
	}
	j->j_wrote = true;
	return (0);
}

static int
read_record(sf_store_txn *txn, fleet_job *j, const char *ns, const char *name,
    sf_fleet **out, sf_status *st)
{
	const char       *id = fleet_id(j->j_arena, ns, name);
	ProtobufCMessage *m  = NULL;
	int               rv;
	*out = NULL;
	if (id == NULL) {
		return (oom(st));
	}
	rv = sf_store_txn_record_get(txn, SF_STORE_FLEET, id,
	    &svcfleet__v1__fleet_service__descriptor, sf_arena_pbc(j->j_arena),
	    &m);
	if (rv == SF_NOT_FOUND) {
		return (0);
	}
	if (rv != 0) {
		return (
		    sf_status_set(st, rv, "reading the FleetService failed"));
	}
	*out = (sf_fleet *) m;
	return (0);
}

// fl_keep copies the refusal in st into j (the call's arena, which the
// store does not reset between attempts of a write); false when out of
// memory. fl_restore puts it back into st and returns its code.
static bool
fl_keep(fleet_job *j, const sf_status *st)
{
	j->j_pre_code  = st->st_code;
	j->j_pre_more  = st->st_more;
	j->j_pre_nviol = st->st_nviol;
	j->j_pre_msg   = sf_arena_strdup(j->j_arena, st->st_msg);
	j->j_pre_viol  = sf_arena_alloc(
	     j->j_arena, (st->st_nviol + 1) * sizeof(sf_violation));
	if (j->j_pre_msg == NULL || j->j_pre_viol == NULL) {
		return (false);
	}
	for (size_t i = 0; i < st->st_nviol; i++) {
		sf_violation *v = &j->j_pre_viol[i];
		v->v_type       = st->st_viol[i].v_type;
		v->v_field
		    = sf_arena_strdup(j->j_arena, st->st_viol[i].v_field);
		v->v_reason
		    = sf_arena_strdup(j->j_arena, st->st_viol[i].v_reason);
		if (v->v_field == NULL || v->v_reason == NULL) {
			return (false);
		}
	}
	return (true);
}

static int
fl_restore(const fleet_job *j, sf_status *st)
{
	sf_status_reset(st);
	for (size_t i = 0; i < j->j_pre_nviol; i++) {
		const sf_violation *v = &j->j_pre_viol[i];
		sf_status_violation(
		    st, v->v_type, v->v_field, "%s", v->v_reason);
	}
	st->st_more += j->j_pre_more;
	return (sf_status_set(st, j->j_pre_code, "%s", j->j_pre_msg));
}

// i18-wide: a write of a FleetService on many clusters does not fit one
// etcd transaction (at most --max-txn-ops reads and as many writes; each
// placed cluster costs its record, its copy and its node ports). The
// function validates every copy first, as ever: any violation fails it
// and nothing is written. The store then commits it in parts
// (sf_store_txn_part): the head holds the FleetService's record, the
// request and audit records, every address claim and as many copies as
// fit; each placed cluster's keys are a part of their own, and the parts
// that did not fit follow in further transactions guarded by the record
// (put again by each): a newer write of the FleetService stops an older
// one's remaining parts, and an older one's parts never land after a newer
// one's head, so the copies end up from one write, the newest. A part that
// could not commit (what it read changed since the snapshot, or etcd
// stopped answering, or this replica died) is healed by the placement
// loop, which re-places a FleetService changed since it last found it
// settled (fleet_loop.c, within its 5 s round): until then, the copies
// not yet written read as Pending in the status. Address claims stay in
// the head: an address is checked and claimed in the transaction that
// writes the record, so no two FleetServices ever hold one address.
static int
fl_guard(sf_store_txn *txn, fleet_job *j, const sf_fleet *fs, sf_status *st)
{
	const char *id = fleet_id(
	    j->j_arena, fs->metadata->namespace_, fs->metadata->name);
	int rv;
	if (id == NULL) {
		return (oom(st));
	}
	if ((rv = sf_store_txn_split_guard(txn, SF_STORE_FLEET, id)) != 0) {
		return (
		    sf_status_set(st, rv, "reading the FleetService failed"));
	}
	return (0);
}

// i18-plan, i18-wide: what must be in the head (the record, its request
// and audit records, every address claim) cannot be split; when it does
// not fit one etcd transaction the FleetService is refused naming the
// bound, before anything is written, instead of the store's bare
// RESOURCE_EXHAUSTED under an unrelated message. rv is what the write
// returned; it is kept when the bound is not the cause.
static int
fit_check(
    sf_store_txn *txn, fleet_job *j, const sf_fleet *fs, int rv, sf_status *st)
{
	uint32_t max   = 0;
	uint32_t left  = sf_store_txn_ops_left(txn, &max);
	size_t   naddr = 0, nwith = 0;

	if (max == 0 || left > 0) {
		return (rv);
	}
	// The addresses the copies ask for, as prepared (the status is not
	// made yet when the write stops).
	for (size_t i = 0; i < j->j_npre; i++) {
		const fl_pre *e = &j->j_pre[i];
		sf_service   *svc;
		const char   *ad;
		if (e->pr_svc == NULL
		    || (svc = svcfleet__v1__service__unpack(
		            sf_arena_pbc(j->j_arena), e->pr_svc_len,
		            e->pr_svc))
		        == NULL) {
			continue;
		}
		ad = address_of(svc);
		nwith += ad[0] != '\0';
		naddr += ad[0] != '\0';
		for (; *ad != '\0'; ad++) {
			naddr += *ad == ',';
		}
	}
	sf_status_reset(st);
	sf_status_violation(st, SF_V_TOO_MANY, "spec.placement",
	    "Too many: %zu clusters, %zu of them asking for %zu addresses: "
	    "the address claims of this FleetService are written with its "
	    "record in one transaction, which needs more than the %" PRIu32
	    " operations an etcd transaction may hold (etcd --max-txn-ops); "
	    "request fewer addresses, or raise etcd's --max-txn-ops and the "
	    "store's so_etcd_max_txn_ops",
	    j->j_npre, nwith, naddr, max);
	return (sf_status_set(st, SF_INVALID_ARGUMENT,
	    "FleetService \"%s\" is invalid: %s: %s: nothing was written",
	    fs != NULL ? sf_nz(fs->metadata->name) : "",
	    st->st_viol[0].v_field, st->st_viol[0].v_reason));
}

// i18-console (issue 19 item 1 for FleetServices): a write of desired
// state (spec, labels, annotations) stamps its revision, author, time and
// request id in the existing ObjectMeta spec_* fields; the placement loop's
// status writes keep them. An apply based on version V then conflicts only
// when desired state changed after V, and the conflict names who changed
// it and when.
static void
fl_spec_stamp(
    sf_store_txn *txn, const fleet_job *j, const sf_fleet *old, sf_fleet *fs)
{
	sf_object_meta       *nm = fs->metadata;
	const sf_object_meta *om = old != NULL ? old->metadata : NULL;

	if (om != NULL && om->generation == nm->generation
	    && sf_model_kvs_equal(
	        om->labels, om->n_labels, nm->labels, nm->n_labels)
	    && sf_model_kvs_equal(om->annotations, om->n_annotations,
	        nm->annotations, nm->n_annotations)) {
		nm->spec_version        = om->spec_version;
		nm->spec_updated_by     = om->spec_updated_by;
		nm->spec_update_time_ms = om->spec_update_time_ms;
		nm->spec_request_id     = om->spec_request_id;
		return;
	}
	nm->spec_version        = sf_store_txn_revision(txn);
	nm->spec_updated_by     = (char *) sf_nz(j->j_user);
	nm->spec_update_time_ms = sf_store_txn_now_ms(txn);
	nm->spec_request_id
	    = j->j_call != NULL ? j->j_call->c_request_id : (char *) "";
}

// Whether desired state changed after version want (a FleetService
// stored before the stamps existed knows only its resource_version; a
// version newer than the stored one was never seen).
static bool
fl_spec_changed_since(const sf_object_meta *m, uint64_t want)
{
	return (m->spec_version == 0 || m->spec_version > want
	    || want > m->resource_version);
}

// Whether the conflict can name who changed desired state.
static bool
fl_spec_stamped(const sf_object_meta *m, uint64_t want)
{
	return (m->spec_version != 0 && sf_nz(m->spec_updated_by)[0] != '\0'
	    && want <= m->resource_version);
}

static int
fl_conflict(
    sf_store_txn *txn, sf_status *st, const sf_object_meta *m, uint64_t want)
{
	int64_t ago = m->spec_update_time_ms > 0
	    ? (sf_store_txn_now_ms(txn) - m->spec_update_time_ms) / 1000
	    : 0;
	return (sf_status_set(st, SF_ABORTED,
	    "Operation cannot be fulfilled on fleetservices \"%s\": the "
	    "object has been modified: changed by %s %llds ago (generation "
	    "%lld, resource version %llu; your change was based on %llu); "
	    "saving would silently undo their change: apply your changes to "
	    "the latest version and try again",
	    sf_nz(m->name), m->spec_updated_by,
	    (long long) (ago < 0 ? 0 : ago), (long long) m->generation,
	    (unsigned long long) m->spec_version, (unsigned long long) want));
}

static int
fleet_apply_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	fleet_job *j = arg;
	sf_fleet  *fs, *old;
	int        rv;

	if (j->j_pre_failed) {
		// Refused by fleet_prepare: only recorded.
		return (fl_restore(j, st));
	}
	sf_status_reset(st);
	j->j_stale              = false;
	j->j_call->c_revalidate = false;
	j->j_result             = NULL;
	j->j_rendered           = NULL;
	j->j_nrendered          = 0;
	j->j_wrote              = false;
	j->j_changed            = false;
	if (j->j_call != NULL && sf__srv_call_expired(j->j_call)) {
		return (sf_status_set(st, SF_DEADLINE_EXCEEDED,
		    "the deadline passed while the write waited its turn; "
		    "nothing was written"));
	}
	fs = svcfleet__v1__fleet_service__unpack(
	    sf_arena_pbc(j->j_arena), j->j_len, j->j_packed);
	if (fs == NULL) {
		return (oom(st));
	}
	if ((rv = read_record(txn, j, fs->metadata->namespace_,
	         fs->metadata->name, &old, st))
	    != 0) {
		return (rv);
	}
	uint64_t want = fs->metadata->resource_version;
	if (old != NULL && want != 0 && want != old->metadata->resource_version
	    && fl_spec_changed_since(old->metadata, want)) {
		if (fl_spec_stamped(old->metadata, want)) {
			return (fl_conflict(txn, st, old->metadata, want));
		}
		return (sf_status_set(st, SF_ABORTED,
		    "Operation cannot be fulfilled on fleetservices \"%s\": "
		    "the "
		    "object has been modified; please apply your changes to "
		    "the latest version and try again (resource version %llu "
		    "given, %llu stored)",
		    fs->metadata->name, (unsigned long long) want,
		    (unsigned long long) old->metadata->resource_version));
	}
	if (old == NULL && want != 0) {
		return (sf_status_set(st, SF_NOT_FOUND,
		    "fleetservice \"%s\" not found in namespace \"%s\" "
		    "(metadata.resourceVersion is set)",
		    fs->metadata->name, fs->metadata->namespace_));
	}
	if ((rv = fl_guard(txn, j, fs, st)) != 0) {
		return (rv);
	}
	fs->last_writer = (char *) j->j_user;
	if (old != NULL) {
		sf_object_meta *om = old->metadata, *nm = fs->metadata;
		nm->uid               = om->uid;
		nm->create_time_ms    = om->create_time_ms;
		nm->created_by        = om->created_by;
		nm->generation        = om->generation;
		fs->same_node_ports   = old->same_node_ports;
		fs->n_same_node_ports = old->n_same_node_ports;
		if (!spec_equal(old, fs)) {
			nm->generation++;
		}
	} else {
		fs->metadata->generation     = 1;
		fs->metadata->create_time_ms = sf_store_txn_now_ms(txn);
		fs->metadata->created_by     = (char *) j->j_user;
	}
	fs->metadata->updated_by = (char *) j->j_user;
	fs->metadata->cluster    = "";
	fs->metadata->owner      = "";
	fl_spec_stamp(txn, j, old, fs);
	rv = fleet_sync(txn, j, fs, old, true, st);
	sf_store_txn_part(txn, 0);
	if (rv != 0) {
		return (fit_check(txn, j, fs, rv, st));
	}
	if (old != NULL
	    && old->metadata->generation == fs->metadata->generation
	    && status_equal(old, fs)
	    && sf_model_kvs_equal(old->metadata->labels,
	        old->metadata->n_labels, fs->metadata->labels,
	        fs->metadata->n_labels)
	    && sf_model_kvs_equal(old->metadata->annotations,
	        old->metadata->n_annotations, fs->metadata->annotations,
	        fs->metadata->n_annotations)) {
		j->j_result = old;
		j->j_action
		    = SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNCHANGED;
		return (0);
	}
	if ((rv = fit_check(
	         txn, j, fs, put_record(txn, j, fs, old == NULL, st), st))
	    != 0) {
		return (rv);
	}
	j->j_result = fs;
	j->j_action = old == NULL
	    ? SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED
	    : SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CONFIGURED;
	return (0);
}

// The placement loop's re-evaluation of one stored FleetService.
static int
fleet_resync_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	fleet_job *j = arg;
	sf_fleet  *old, *fs;
	int        rv;

	sf_status_reset(st);
	j->j_rendered  = NULL;
	j->j_nrendered = 0;
	j->j_changed   = false;
	j->j_wrote     = false;
	j->j_result    = NULL;
	j->j_stale     = false;
	if ((rv = read_record(txn, j, j->j_ns, j->j_name, &old, st)) != 0) {
		return (rv);
	}
	if (old == NULL) {
		return (0); // deleted meanwhile
	}
	// A fresh copy to change: old stays for the comparison.
	fs = svcfleet__v1__fleet_service__unpack(
	    sf_arena_pbc(j->j_arena), j->j_len, j->j_packed);
	if (fs == NULL) {
		return (oom(st));
	}
	if (fs->metadata->resource_version
	    != old->metadata->resource_version) {
		return (0); // changed since the loop read it: next round
	}
	j->j_user = sf_nz(old->last_writer);
	if ((rv = fl_guard(txn, j, fs, st)) != 0) {
		return (rv);
	}
	rv = fleet_sync(txn, j, fs, old, false, st);
	sf_store_txn_part(txn, 0);
	if (rv != 0) {
		return (fit_check(txn, j, fs, rv, st));
	}
	if (!j->j_changed && status_equal(old, fs)) {
		return (0);
	}
	j->j_result = fs;
	return (fit_check(txn, j, fs, put_record(txn, j, fs, false, st), st));
}

static int
fleet_delete_fn(sf_store_txn *txn, void *arg, sf_status *st)
{
	fleet_job  *j = arg;
	sf_fleet   *old;
	const char *owner;
	const char *id;
	int         rv;

	sf_status_reset(st);
	j->j_wrote = false;
	if ((rv = read_record(txn, j, j->j_ns, j->j_name, &old, st)) != 0) {
		return (rv);
	}
	if (old == NULL) {
		return (sf_status_set(st, SF_NOT_FOUND,
		    "fleetservice \"%s\" not found in namespace \"%s\"",
		    j->j_name, j->j_ns));
	}
	// As for an apply: a delete based on version V fails only when
	// desired state changed after V (the placement loop's status writes
	// do not count), naming who changed it.
	if (j->j_del_rv != 0 && j->j_del_rv != old->metadata->resource_version
	    && fl_spec_changed_since(old->metadata, j->j_del_rv)) {
		if (fl_spec_stamped(old->metadata, j->j_del_rv)) {
			return (
			    fl_conflict(txn, st, old->metadata, j->j_del_rv));
		}
		return (sf_status_set(st, SF_ABORTED,
		    "Operation cannot be fulfilled on fleetservices \"%s\": "
		    "the "
		    "object has been modified (resource version %llu given, "
		    "%llu stored)",
		    j->j_name, (unsigned long long) j->j_del_rv,
		    (unsigned long long) old->metadata->resource_version));
	}
	if ((rv = fl_guard(txn, j, old, st)) != 0) {
		return (rv);
	}
	owner = owner_of(j->j_arena, j->j_name);
	for (size_t i = 0; i < old->n_status; i++) {
		if (!fl_streq(old->status[i]->placement, "Placed")) {
			continue;
		}
		// i18-wide: each copy pruned is a part of its own (the
		// record's delete, in the head, guards the others).
		sf_store_txn_part(txn, (uint32_t) i + 1);
		rv = prune_copy(
		    txn, j, old->status[i]->cluster, old, owner, st);
		sf_store_txn_part(txn, 0);
		if (rv != 0) {
			return (fit_check(txn, j, old, rv, st));
		}
	}
	id = fleet_id(j->j_arena, j->j_ns, j->j_name);
	if ((rv = sf_store_txn_record_delete(txn, SF_STORE_FLEET, id)) != 0) {
		return (sf_status_set(st, rv, "deleting failed"));
	}
	// Its addresses are free again.
	if ((rv = sf__srv_fleet_addrs_claim(txn, j->j_arena, id, NULL, 0, old))
	    != 0) {
		return (
		    sf_status_set(st, rv, "giving up the addresses failed"));
	}
	j->j_result = old;
	j->j_wrote  = true;
	return (0);
}

// ---------------------------------------------------- reads and status

// Fills the copies' states into fs (read outside a write).
void
sf__srv_fleet_fill_status(sf_store *s, sf_arena *a, sf_fleet *fs)
{
	uint32_t synced = 0, placed = 0;
	for (size_t i = 0; i < fs->n_status; i++) {
		Svcfleet__V1__FleetClusterStatus *cs = fs->status[i];
		sf_store_key                      k  = {
		                          cs->cluster, fs->metadata->namespace_, fs->metadata->name};
		sf_service *svc;
		if (!fl_streq(cs->placement, "Placed")) {
			continue;
		}
		placed++;
		if (sf_store_service_get(s, &k, sf_arena_pbc(a), &svc) != 0) {
			cs->state
			    = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_PENDING;
			continue;
		}
		cs->state = SVCFLEET__V1__SYNC_STATE__SYNC_STATE_PENDING;
		for (size_t c = 0; c < svc->n_status; c++) {
			Svcfleet__V1__ClusterStatus *x = svc->status[c];
			if (!fl_streq(x->cluster, cs->cluster)) {
				continue;
			}
			cs->state               = x->state;
			cs->observed_generation = x->observed_generation;
			if (fl_empty(cs->message)) {
				cs->message = x->message;
			}
			cs->node_ports   = x->node_ports;
			cs->n_node_ports = x->n_node_ports;
			cs->ingress      = x->ingress;
			cs->n_ingress    = x->n_ingress;
			if (x->state
			        == SVCFLEET__V1__SYNC_STATE__SYNC_STATE_SYNCED
			    && x->observed_generation
			        >= svc->metadata->generation) {
				synced++;
			}
		}
	}
	fs->placed  = placed;
	fs->synced  = synced;
	fs->summary = sf_arena_printf(a, "%u/%u synced", synced, placed);
}

// May the caller read FleetServices of ns: may it read Services there in
// some cluster?
static bool
may_read(
    sf__srv_call *c, Svcfleet__V1__Cluster **cls, size_t n, const char *ns)
{
	for (size_t i = 0; i < n; i++) {
		if (sf__srv_call_allowed(
		        c, "services", "get", cls[i]->name, ns)) {
			return (true);
		}
	}
	return (sf__srv_call_allowed(c, "services", "get", "", ""));
}

static int
read_clusters(sf__srv_call *c, Svcfleet__V1__Cluster ***out, size_t *n)
{
	int rv = sf_store_cluster_list(
	    c->c_srv->s_store, sf_arena_pbc(&c->c_arena), out, n);
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the clusters failed");
	}
	return (rv);
}

// i19-ssd: every rendered copy (not the pruned or skipped) is dry-run by
// its cluster's API server before the reply goes out (server/live.c).
static void
server_side_start(fleet_job *j, Svcfleet__V1__ApplyFleetServiceReply *r)
{
	sf__srv_call        *c = j->j_call;
	sf__srv_dryrun_item *it;
	size_t               n = 0;

	it = sf__srv_call_alloc(c, (r->n_rendered + 1) * sizeof(*it));
	if (it == NULL) {
		return;
	}
	for (size_t i = 0; i < r->n_rendered; i++) {
		Svcfleet__V1__FleetRendered *rd = r->rendered[i];
		Svcfleet__V1__ServerDryRun  *out;
		if (rd->service == NULL || rd->service->metadata == NULL) {
			continue;
		}
		if ((out = sf__srv_call_alloc(c, sizeof(*out))) == NULL) {
			return;
		}
		if (rd->service->metadata->cluster == NULL
		    || strcmp(
		           rd->service->metadata->cluster, sf_nz(rd->cluster))
		        != 0) {
			// The copy as it is stored in that cluster: the body
			// names its cluster record (svcfleet.io/cluster).
			sf_service *cp = sf__srv_call_alloc(c, sizeof(*cp));
			sf_object_meta *md
			    = sf__srv_call_alloc(c, sizeof(*md));
			if (cp == NULL || md == NULL) {
				return;
			}
			*cp          = *rd->service;
			*md          = *rd->service->metadata;
			md->cluster  = rd->cluster;
			cp->metadata = md;
			rd->service  = cp;
		}
		svcfleet__v1__server_dry_run__init(out);
		out->cluster       = rd->cluster;
		out->namespace_    = rd->service->metadata->namespace_;
		out->name          = rd->service->metadata->name;
		rd->server_dry_run = out;
		it[n].di_cluster   = sf_nz(rd->cluster);
		it[n].di_svc       = rd->service;
		it[n].di_out       = out;
		it[n].di_rendered  = rd;
		n++;
	}
	sf__srv_live_dryrun_start(c, &r->base, it, n);
}

static void fleet_revalidate(void *arg);

static void
fleet_done(void *arg, int code, uint64_t revision)
{
	fleet_job *j = arg;
	(void) revision;
	if (code != 0 && j->j_stale) {
		// A cluster changed under the copies: made again on a worker
		// (issue 17: never on the writer).
		j->j_revalidations++;
		sf__srv_call_defer(j->j_call, fleet_revalidate, j);
		return;
	}
	if (code != 0) {
		sf__srv_write_done(j->j_call, code, NULL);
		return;
	}
	if (j->j_kind == FJ_DELETE) {
		Svcfleet__V1__DeleteFleetServiceReply *r
		    = sf__srv_reply_new(j->j_call,
		        &svcfleet__v1__delete_fleet_service_reply__descriptor);
		if (r != NULL) {
			r->fleet_service = j->j_result;
			sf__srv_write_done(j->j_call, 0, &r->base);
		}
		return;
	}
	Svcfleet__V1__ApplyFleetServiceReply *r = sf__srv_reply_new(
	    j->j_call, &svcfleet__v1__apply_fleet_service_reply__descriptor);
	if (r == NULL) {
		return;
	}
	if (j->j_result != NULL) {
		sf__srv_fleet_fill_status(j->j_call->c_srv->s_store,
		    &j->j_call->c_arena, j->j_result);
	}
	r->fleet_service = j->j_result;
	r->action        = j->j_action;
	r->rendered      = j->j_rendered;
	r->n_rendered    = j->j_nrendered;
	if (j->j_server_side) {
		server_side_start(j, r);
		return;
	}
	sf__srv_write_done(j->j_call, 0, &r->base);
}

// Authorizes a write of fs by the caller: apply (or delete) on Services in
// its namespace of every cluster it places onto. Denies (and finishes the
// call) when not.
static bool
authorize_clusters(sf__srv_call *c, const char *verb, const char *ns,
    char **clusters, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!sf_rbac_allowed(&c->c_ident.id_p, "services", verb,
		        clusters[i], ns, &c->c_status)) {
			sf__srv_call_deny(c);
			return (false);
		}
	}
	return (true);
}

// fleet_prepare_submit makes the copies of the request's FleetService fs
// (fleet_prepare, here: never on the writer), then queues the write,
// which records a refusal or writes them.
static void
fleet_prepare_submit(fleet_job *j, const sf_fleet *fs)
{
	sf__srv_call *c  = j->j_call;
	sf_status    *st = &c->c_status;

	sf_status_reset(st);
	c->c_revalidate = false;
	j->j_stale      = false;
	j->j_pre_failed = false;
	if (sf__srv_call_expired(c)) {
		sf__srv_call_fail(c, SF_DEADLINE_EXCEEDED,
		    "the deadline passed before the copies were validated; "
		    "nothing was written");
		return;
	}
	if (fleet_prepare(j, fs, true, st) != 0) {
		if (st->st_code == SF_DEADLINE_EXCEEDED
		    || st->st_code == SF_RESOURCE_EXHAUSTED) {
			sf__srv_call_finish(c, NULL);
			return;
		}
		j->j_pre_failed = true;
		if (!fl_keep(j, st)) {
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
	}
	// The long part is done: the deadline again.
	if (sf__srv_call_expired(c)) {
		sf__srv_call_fail(c, SF_DEADLINE_EXCEEDED,
		    "the deadline passed while the copies were validated; "
		    "nothing was written");
		return;
	}
	sf__srv_call_write(c, fleet_apply_fn, fleet_done, j, j->j_dry);
}

static void
start_apply(sf__srv_call *c, sf_fleet *fs, bool dry_run, bool server_side)
{
	fleet_job *j;
	sf_status *st = &c->c_status;
	char     **names;
	size_t     nn = 0;

	if (fs == NULL || fs->metadata == NULL || fs->spec == NULL) {
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
		    "the request carries no FleetService");
		return;
	}
	if (fl_empty(fs->metadata->namespace_)) {
		fs->metadata->namespace_ = "default";
	}
	if (fl_empty(fs->metadata->name)) {
		sf_status_violation(
		    st, SF_V_REQUIRED, "metadata.name", "Required value");
	}
	if (fs->spec->placement == NULL) {
		fs->spec->placement = sf_arena_zalloc(
		    &c->c_arena, sizeof(*fs->spec->placement));
		if (fs->spec->placement == NULL) {
			sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
			return;
		}
		svcfleet__v1__fleet_placement__init(fs->spec->placement);
	}
	sf_model_fleet_validate(fs, st);
	if (fs->spec->template_ != NULL
	    && sf_model_service_defaults(fs->spec->template_, &c->c_arena)
	        != 0) {
		sf__srv_call_fail(c, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	if (st->st_nviol > 0) {
		sf_status_set(st, SF_INVALID_ARGUMENT,
		    "FleetService \"%s\" is invalid: %s: %s",
		    sf_nz(fs->metadata->name), st->st_viol[0].v_field,
		    st->st_viol[0].v_reason);
		sf__srv_call_finish(c, NULL);
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	j->j_call  = c;
	j->j_kind  = FJ_APPLY;
	j->j_arena = &c->c_arena;
	j->j_user  = c->c_ident.id_user;
	if (read_clusters(c, &j->j_clusters, &j->j_nclusters) != 0) {
		return;
	}
	j->j_srv = c->c_srv;
	j->j_dry = dry_run;
	names = sf__srv_call_alloc(c, (j->j_nclusters + 1) * sizeof(*names));
	if (names == NULL) {
		return;
	}
	for (size_t i = 0; i < j->j_nclusters; i++) {
		if (sf_model_fleet_places(fs, j->j_clusters[i])) {
			names[nn++] = j->j_clusters[i]->name;
		}
	}
	if (nn == 0
	    && !may_read(
	        c, j->j_clusters, j->j_nclusters, fs->metadata->namespace_)) {
		sf_rbac_allowed(&c->c_ident.id_p, "services", "apply", "",
		    fs->metadata->namespace_, st);
		sf__srv_call_deny(c);
		return;
	}
	if (!authorize_clusters(
	        c, "apply", fs->metadata->namespace_, names, nn)) {
		return;
	}
	if (server_side) {
		// i19-ssd: each cluster's object comes back: a read too.
		if (!dry_run) {
			sf__srv_call_fail(c, SF_INVALID_ARGUMENT,
			    "server_side: only with dry_run (a dry run asked "
			    "of the clusters' API servers)");
			return;
		}
		if (!authorize_clusters(
		        c, "get", fs->metadata->namespace_, names, nn)) {
			return;
		}
		j->j_server_side = true;
	}
	j->j_len    = svcfleet__v1__fleet_service__get_packed_size(fs);
	j->j_packed = sf__srv_call_alloc(c, j->j_len + 1);
	if (j->j_packed == NULL) {
		return;
	}
	svcfleet__v1__fleet_service__pack(fs, j->j_packed);
	fleet_prepare_submit(j, fs);
}

// fleet_revalidate: fleet_prepare_submit again, on a worker, for an apply
// whose copies the writer found made from a cluster's older record.
static void
fleet_revalidate(void *arg)
{
	fleet_job *j = arg;
	sf_fleet  *fs;

	fs = svcfleet__v1__fleet_service__unpack(
	    sf_arena_pbc(j->j_arena), j->j_len, j->j_packed);
	if (fs == NULL) {
		sf__srv_call_fail(j->j_call, SF_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	fleet_prepare_submit(j, fs);
}

// ------------------------------------------------------------ handlers

static void
h_apply_fleet_service(Svcfleet__V1__FleetManager_Service *s,
    const Svcfleet__V1__ApplyFleetServiceRequest         *in,
    Svcfleet__V1__ApplyFleetServiceReply_Closure closure, void *data)
{
	(void) s;
	(void) closure;
	start_apply(sf__srv_call_of(data), in->fleet_service, in->dry_run,
	    in->server_side);
}

static int
get_one(
    sf__srv_call *c, const Svcfleet__V1__FleetServiceKey *k, sf_fleet **out)
{
	const char *ns = k != NULL && !fl_empty(k->namespace_) ? k->namespace_
	                                                       : "default";
	const char *name     = k != NULL ? sf_nz(k->name) : "";
	ProtobufCMessage *m  = NULL;
	char             *id = fleet_id(&c->c_arena, ns, name);
	int               rv;

	if (name[0] == '\0') {
		sf_status_violation(&c->c_status, SF_V_REQUIRED,
		    "metadata.name", "Required value");
		sf__srv_call_fail(c, SF_INVALID_ARGUMENT, "invalid key");
		return (SF_INVALID_ARGUMENT);
	}
	rv = sf_store_record_get(c->c_srv->s_store, SF_STORE_FLEET, id,
	    &svcfleet__v1__fleet_service__descriptor,
	    sf_arena_pbc(&c->c_arena), &m);
	if (rv == SF_NOT_FOUND || rv == SF_INVALID_ARGUMENT) {
		sf__srv_call_fail(c, SF_NOT_FOUND,
		    "fleetservice \"%s\" not found in namespace \"%s\"", name,
		    ns);
		return (SF_NOT_FOUND);
	}
	if (rv != 0) {
		sf__srv_call_fail(c, rv, "reading the FleetService failed");
		return (rv);
	}
	*out = (sf_fleet *) m;
	return (0);
}

static void
h_get_fleet_service(Svcfleet__V1__FleetManager_Service *s,
    const Svcfleet__V1__GetFleetServiceRequest         *in,
    Svcfleet__V1__FleetService_Closure closure, void *data)
{
	sf__srv_call           *c = sf__srv_call_of(data);
	sf_fleet               *fs;
	Svcfleet__V1__Cluster **cls;
	size_t                  n;
	(void) s;

	if (read_clusters(c, &cls, &n) != 0) {
		return;
	}
	if (in->key != NULL
	    && !may_read(c, cls, n,
	        fl_empty(in->key->namespace_) ? "default"
	                                      : in->key->namespace_)) {
		sf_rbac_allowed(&c->c_ident.id_p, "services", "get", "",
		    in->key->namespace_, &c->c_status);
		sf__srv_call_deny(c);
		return;
	}
	if (get_one(c, in->key, &fs) != 0) {
		return;
	}
	sf__srv_fleet_fill_status(c->c_srv->s_store, &c->c_arena, fs);
	closure(fs, data);
}

static void
h_list_fleet_services(Svcfleet__V1__FleetManager_Service *s,
    const Svcfleet__V1__ListFleetServicesRequest         *in,
    Svcfleet__V1__ListFleetServicesReply_Closure closure, void *data)
{
	sf__srv_call                         *c = sf__srv_call_of(data);
	ProtobufCMessage                    **all;
	size_t                                n, nc, k = 0;
	Svcfleet__V1__Cluster               **cls;
	Svcfleet__V1__ListFleetServicesReply *r;
	(void) s;

	if (read_clusters(c, &cls, &nc) != 0) {
		return;
	}
	if (sf_store_record_list(c->c_srv->s_store, SF_STORE_FLEET,
	        &svcfleet__v1__fleet_service__descriptor,
	        sf_arena_pbc(&c->c_arena), &all, &n)
	    != 0) {
		sf__srv_call_fail(c, SF_UNAVAILABLE, "listing failed");
		return;
	}
	r = sf__srv_reply_new(
	    c, &svcfleet__v1__list_fleet_services_reply__descriptor);
	if (r == NULL) {
		return;
	}
	r->fleet_services = sf__srv_call_alloc(c, (n + 1) * sizeof(void *));
	if (r->fleet_services == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		sf_fleet *fs = (sf_fleet *) all[i];
		if (!fl_empty(in->namespace_)
		    && !fl_streq(fs->metadata->namespace_, in->namespace_)) {
			continue;
		}
		if (!may_read(c, cls, nc, fs->metadata->namespace_)) {
			continue;
		}
		sf__srv_fleet_fill_status(c->c_srv->s_store, &c->c_arena, fs);
		r->fleet_services[k++] = fs;
	}
	r->n_fleet_services = k;
	closure(r, data);
}

static void
h_delete_fleet_service(Svcfleet__V1__FleetManager_Service *s,
    const Svcfleet__V1__DeleteFleetServiceRequest         *in,
    Svcfleet__V1__DeleteFleetServiceReply_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	sf_fleet     *fs;
	fleet_job    *j;
	char        **names;
	size_t        nn = 0;
	(void) s;
	(void) closure;

	if (get_one(c, in->key, &fs) != 0) {
		return;
	}
	names = sf__srv_call_alloc(c, (fs->n_status + 1) * sizeof(*names));
	if (names == NULL) {
		return;
	}
	for (size_t i = 0; i < fs->n_status; i++) {
		if (fl_streq(fs->status[i]->placement, "Placed")) {
			names[nn++] = fs->status[i]->cluster;
		}
	}
	if (!authorize_clusters(
	        c, "delete", fs->metadata->namespace_, names, nn)) {
		return;
	}
	if ((j = sf__srv_call_alloc(c, sizeof(*j))) == NULL) {
		return;
	}
	j->j_call   = c;
	j->j_srv    = c->c_srv;
	j->j_kind   = FJ_DELETE;
	j->j_arena  = &c->c_arena;
	j->j_user   = c->c_ident.id_user;
	j->j_ns     = fs->metadata->namespace_;
	j->j_name   = fs->metadata->name;
	j->j_del_rv = in->resource_version;
	sf__srv_call_write(c, fleet_delete_fn, fleet_done, j, false);
}

// Convert: a FleetService from one Service, placed on its cluster,
// nodePorts and address kept (they are in its spec), the Service adopted
// as the first copy.
static void
h_convert_service(Svcfleet__V1__FleetManager_Service *s,
    const Svcfleet__V1__ConvertServiceRequest        *in,
    Svcfleet__V1__ApplyFleetServiceReply_Closure closure, void *data)
{
	sf__srv_call *c = sf__srv_call_of(data);
	sf_service   *svc;
	sf_store_key  k;
	sf_fleet     *fs;
	int           rv;
	(void) s;
	(void) closure;

	k.k_cluster   = in->key != NULL ? sf_nz(in->key->cluster) : "";
	k.k_namespace = in->key != NULL && !fl_empty(in->key->namespace_)
	    ? in->key->namespace_
	    : "default";
	k.k_name      = in->key != NULL ? sf_nz(in->key->name) : "";
	rv            = sf_store_service_get(
	               c->c_srv->s_store, &k, sf_arena_pbc(&c->c_arena), &svc);
	if (rv != 0) {
		sf__srv_call_fail(c,
		    rv == SF_INVALID_ARGUMENT ? rv : SF_NOT_FOUND,
		    "service \"%s\" not found in namespace \"%s\" of cluster "
		    "\"%s\"",
		    k.k_name, k.k_namespace, k.k_cluster);
		return;
	}
	if (!fl_empty(svc->metadata->owner)) {
		sf__srv_call_fail(c, SF_FAILED_PRECONDITION,
		    "service \"%s\" is already owned by %s", k.k_name,
		    svc->metadata->owner);
		return;
	}
	fs = sf__srv_call_alloc(c, sizeof(*fs));
	Svcfleet__V1__FleetServiceSpec *sp
	    = sf__srv_call_alloc(c, sizeof(*sp));
	Svcfleet__V1__FleetPlacement *pl = sf__srv_call_alloc(c, sizeof(*pl));
	sf_object_meta               *md = sf__srv_call_alloc(c, sizeof(*md));
	char                        **cl = sf__srv_call_alloc(c, sizeof(*cl));
	if (fs == NULL || sp == NULL || pl == NULL || md == NULL
	    || cl == NULL) {
		return;
	}
	svcfleet__v1__fleet_service__init(fs);
	svcfleet__v1__fleet_service_spec__init(sp);
	svcfleet__v1__fleet_placement__init(pl);
	svcfleet__v1__object_meta__init(md);
	md->namespace_ = (char *) k.k_namespace;
	md->name       = (char *) k.k_name;
	cl[0]          = (char *) k.k_cluster;
	pl->clusters   = cl;
	pl->n_clusters = 1;
	sp->placement  = pl;
	sp->node_ports = "PerCluster";
	sp->adopt      = true;
	// The template: the Service's labels, annotations and spec.
	svc->metadata->cluster          = "";
	svc->metadata->resource_version = 0;
	svc->status                     = NULL;
	svc->n_status                   = 0;
	svc->spec->allow_adoption       = false;
	sp->template_                   = svc;
	fs->metadata                    = md;
	fs->spec                        = sp;
	start_apply(c, fs, in->dry_run, false);
}

static void
h_addresses(Svcfleet__V1__FleetManager_Service *s,
    const Svcfleet__V1__AddressesRequest       *in,
    Svcfleet__V1__AddressesReply_Closure closure, void *data)
{
	sf__srv_call                 *c = sf__srv_call_of(data);
	Svcfleet__V1__Cluster       **cls;
	size_t                        nc;
	Svcfleet__V1__AddressesReply *r;
	sf_arena                     *a = &c->c_arena;
	(void) s;
	(void) in;

	if (read_clusters(c, &cls, &nc) != 0) {
		return;
	}
	r = sf__srv_reply_new(c, &svcfleet__v1__addresses_reply__descriptor);
	if (r == NULL) {
		return;
	}
	if (sf__srv_fleet_addresses(
	        c->c_srv->s_store, a, cls, nc, r, &c->c_status)
	    != 0) {
		sf__srv_call_finish(c, NULL);
		return;
	}
	// Only what the caller may see.
	size_t k = 0;
	for (size_t i = 0; i < r->n_addresses; i++) {
		if (sf__srv_call_allowed(c, "services", "get",
		        r->addresses[i]->cluster,
		        r->addresses[i]->namespace_)) {
			r->addresses[k++] = r->addresses[i];
		}
	}
	r->n_addresses = k;
	closure(r, data);
}

void
sf__srv_handlers_fleet_init(sf_server *srv)
{
	Svcfleet__V1__FleetManager_Service init
	    = SVCFLEET__V1__FLEET_MANAGER__INIT(h_);
	srv->s_fleet = init;
}

// ----------------------------------------------- the placement loop

int
sf__srv_fleet_resync(sf_server *srv, sf_arena *a, const sf_fleet *fs,
    Svcfleet__V1__Cluster **cls, size_t ncls, bool *changed)
{
	fleet_job j;
	sf_status st;
	int       rv;

	memset(&j, 0, sizeof(j));
	j.j_kind      = FJ_RESYNC;
	j.j_arena     = a;
	j.j_ns        = fs->metadata->namespace_;
	j.j_name      = fs->metadata->name;
	j.j_clusters  = cls;
	j.j_nclusters = ncls;
	j.j_srv       = srv;
	j.j_user      = sf_nz(fs->last_writer); // (the write checks it)
	j.j_len       = svcfleet__v1__fleet_service__get_packed_size(fs);
	j.j_packed    = sf_arena_alloc(a, j.j_len + 1);
	if (j.j_packed == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	svcfleet__v1__fleet_service__pack(fs, j.j_packed);
	sf_status_init(&st);
	// The copies are made here, on the loop's thread, never on the
	// writer; made again when a cluster changed under them.
	for (;;) {
		sf_status_reset(&st);
		if ((rv = fleet_prepare(&j, fs, false, &st)) != 0) {
			break;
		}
		sf_store_write w = {
		    .w_fn     = fleet_resync_fn,
		    .w_arg    = &j,
		    .w_status = &st,
		    .w_alloc  = sf_arena_pbc(a),
		};
		rv = sf_store_write_sync(srv->s_store, &w, NULL);
		if (rv == 0 || !j.j_stale) {
			break;
		}
		j.j_revalidations++;
	}
	if (rv != 0) {
		SF_WARN("fleet", "placing FleetService %s/%s: %s", j.j_ns,
		    j.j_name, st.st_msg);
	}
	sf_status_fini(&st);
	*changed = j.j_changed || j.j_wrote;
	return (rv);
}
