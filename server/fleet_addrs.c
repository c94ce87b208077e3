// fleet_addrs.c: the address plan's index (issue 18) — which FleetService
// asks for which LoadBalancer address in which cluster, so that a
// FleetService write checks each address it requests with one lookup
// instead of reading every stored FleetService (which made N applies cost
// N² record reads).
//
// The index holds, per FleetService ("namespace/name"), the lb_address of
// each cluster in its stored status, as the check has always read them.
// It is built from the store once, then kept current by every committed
// FleetService write of this svcfleetd (sf__srv_fleet_addrs_put/_del from
// the writes' done functions, which the writer thread calls in commit
// order). Writes committed while it is being built are applied to it and
// also noted, and replayed over the store's list once that is read, so a
// build never has to start again however busy the writers are. On a
// shared store (etcd, several replicas) other replicas write too: there it
// is rebuilt when older than ADDRS_SHARED_MS, so the cost is bounded by
// time, not by the number of writes. A write checks against what was
// committed before it was queued, as before the index.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "log.h"
#include "str.h"

#define ADDRS_BUCKETS0  1024
#define ADDRS_SHARED_MS 500

typedef struct fa_ent {
	struct fa_ent *e_next_addr; // chain of its address's bucket
	struct fa_ent *e_next_id;   // chain of its FleetService's bucket
	const char    *e_addr;
	const char    *e_id; // "namespace/name"
	const char    *e_cluster;
	size_t         e_pos; // its place in the FleetService's status
} fa_ent;

// A write noted while the index is being built: the FleetService's id and
// its (cluster, address) pairs; none and n_del for a delete.
typedef struct fa_note {
	struct fa_note *n_next;
	bool            n_del;
	const char     *n_id;
	size_t          n_n;
	const char    **n_cluster, **n_addr;
} fa_note;

struct sf__srv_fleet_addrs {
	pthread_mutex_t x_mtx;
	pthread_cond_t  x_cv; // a build ended
	fa_ent        **x_by_addr;
	fa_ent        **x_by_id;
	size_t          x_nb; // buckets of each table (a power of two)
	size_t          x_n;  // entries
	bool            x_valid;
	bool            x_shared;
	bool            x_building;
	bool            x_notes_lost; // a note could not be made
	fa_note        *x_notes, **x_notes_tail;
	int64_t         x_built_ms;
	uint64_t        x_builds;
};

static size_t
fa_hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s != '\0'; s++) {
		h = (h ^ (unsigned char) *s) * 1099511628211ull;
	}
	return ((size_t) h);
}

static void
fa_clear(struct sf__srv_fleet_addrs *x)
{
	for (size_t b = 0; b < x->x_nb; b++) {
		fa_ent *e = x->x_by_addr[b];
		while (e != NULL) {
			fa_ent *n = e->e_next_addr;
			free(e);
			e = n;
		}
		x->x_by_addr[b] = NULL;
		x->x_by_id[b]   = NULL;
	}
	x->x_n = 0;
}

// Doubles the tables when they are crowded; on no memory they stay as
// they are (longer chains, still correct).
static void
fa_grow(struct sf__srv_fleet_addrs *x)
{
	size_t   nb = x->x_nb * 2;
	fa_ent **ba, **bi;
	if (x->x_n <= 2 * x->x_nb) {
		return;
	}
	ba = calloc(nb, sizeof(*ba));
	bi = calloc(nb, sizeof(*bi));
	if (ba == NULL || bi == NULL) {
		free(ba);
		free(bi);
		return;
	}
	for (size_t b = 0; b < x->x_nb; b++) {
		fa_ent *e = x->x_by_addr[b];
		while (e != NULL) {
			fa_ent *n      = e->e_next_addr;
			size_t  ha     = fa_hash(e->e_addr) & (nb - 1);
			size_t  hi     = fa_hash(e->e_id) & (nb - 1);
			e->e_next_addr = ba[ha];
			ba[ha]         = e;
			e->e_next_id   = bi[hi];
			bi[hi]         = e;
			e              = n;
		}
	}
	free(x->x_by_addr);
	free(x->x_by_id);
	x->x_by_addr = ba;
	x->x_by_id   = bi;
	x->x_nb      = nb;
}

static int
fa_add(struct sf__srv_fleet_addrs *x, const char *id, const char *cluster,
    const char *addr, size_t pos)
{
	size_t  li = strlen(id) + 1, lc = strlen(cluster) + 1;
	size_t  la = strlen(addr) + 1;
	fa_ent *e  = malloc(sizeof(*e) + li + lc + la);
	char   *p;
	if (e == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	p = (char *) (e + 1);
	memcpy(p, id, li);
	memcpy(p + li, cluster, lc);
	memcpy(p + li + lc, addr, la);
	e->e_id          = p;
	e->e_cluster     = p + li;
	e->e_addr        = p + li + lc;
	e->e_pos         = pos;
	size_t ha        = fa_hash(e->e_addr) & (x->x_nb - 1);
	size_t hi        = fa_hash(e->e_id) & (x->x_nb - 1);
	e->e_next_addr   = x->x_by_addr[ha];
	x->x_by_addr[ha] = e;
	e->e_next_id     = x->x_by_id[hi];
	x->x_by_id[hi]   = e;
	x->x_n++;
	fa_grow(x);
	return (0);
}

// Removes every entry of id.
static void
fa_remove(struct sf__srv_fleet_addrs *x, const char *id)
{
	fa_ent **pi = &x->x_by_id[fa_hash(id) & (x->x_nb - 1)];
	while (*pi != NULL) {
		fa_ent *e = *pi;
		if (strcmp(e->e_id, id) != 0) {
			pi = &e->e_next_id;
			continue;
		}
		*pi = e->e_next_id;
		fa_ent **pa
		    = &x->x_by_addr[fa_hash(e->e_addr) & (x->x_nb - 1)];
		while (*pa != e) {
			pa = &(*pa)->e_next_addr;
		}
		*pa = e->e_next_addr;
		free(e);
		x->x_n--;
	}
}

static int
fa_put(struct sf__srv_fleet_addrs *x, const sf_fleet *fs)
{
	char id[600];
	snprintf(id, sizeof(id), "%s/%s", sf_nz(fs->metadata->namespace_),
	    sf_nz(fs->metadata->name));
	fa_remove(x, id);
	for (size_t i = 0; i < fs->n_status; i++) {
		const char *addr = sf_nz(fs->status[i]->lb_address);
		int         rv;
		if (addr[0] == '\0') {
			continue;
		}
		rv = fa_add(x, id, sf_nz(fs->status[i]->cluster), addr, i);
		if (rv != 0) {
			return (rv);
		}
	}
	return (0);
}

// Notes a write made while the index is being built (fs NULL: the delete
// of id). One allocation holds it all.
static void
fa_note_add(struct sf__srv_fleet_addrs *x, const char *id, const sf_fleet *fs)
{
	size_t   n = 0, len = sizeof(fa_note) + strlen(id) + 1;
	fa_note *no;
	char    *p;
	for (size_t i = 0; fs != NULL && i < fs->n_status; i++) {
		if (sf_nz(fs->status[i]->lb_address)[0] != '\0') {
			n++;
			len += strlen(sf_nz(fs->status[i]->cluster)) + 1
			    + strlen(fs->status[i]->lb_address) + 1;
		}
	}
	len += 2 * n * sizeof(char *);
	if ((no = calloc(1, len)) == NULL) {
		x->x_notes_lost = true;
		return;
	}
	no->n_del     = fs == NULL;
	no->n_cluster = (const char **) (no + 1);
	no->n_addr    = no->n_cluster + n;
	p             = (char *) (no->n_addr + n);
	memcpy(p, id, strlen(id) + 1);
	no->n_id = p;
	p += strlen(id) + 1;
	for (size_t i = 0; fs != NULL && i < fs->n_status; i++) {
		const char *c = sf_nz(fs->status[i]->cluster);
		const char *a = sf_nz(fs->status[i]->lb_address);
		if (a[0] == '\0') {
			continue;
		}
		memcpy(p, c, strlen(c) + 1);
		no->n_cluster[no->n_n] = p;
		p += strlen(c) + 1;
		memcpy(p, a, strlen(a) + 1);
		no->n_addr[no->n_n++] = p;
		p += strlen(a) + 1;
	}
	*x->x_notes_tail = no;
	x->x_notes_tail  = &no->n_next;
}

// Replays the notes over the index just built from the store (apply
// false: drops them). 0, or SF_RESOURCE_EXHAUSTED when an entry could not be
// added.
static int
fa_notes_replay(struct sf__srv_fleet_addrs *x, bool apply)
{
	int rv = 0;
	while (x->x_notes != NULL) {
		fa_note *no = x->x_notes;
		x->x_notes  = no->n_next;
		if (apply) {
			fa_remove(x, no->n_id);
			for (size_t i = 0; rv == 0 && i < no->n_n; i++) {
				rv = fa_add(x, no->n_id, no->n_cluster[i],
				    no->n_addr[i], i);
			}
		}
		free(no);
	}
	x->x_notes_tail = &x->x_notes;
	return (rv);
}

int
sf__srv_fleet_addrs_open(sf_server *srv)
{
	struct sf__srv_fleet_addrs *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		return (SF_RESOURCE_EXHAUSTED);
	}
	x->x_nb      = ADDRS_BUCKETS0;
	x->x_by_addr = calloc(x->x_nb, sizeof(*x->x_by_addr));
	x->x_by_id   = calloc(x->x_nb, sizeof(*x->x_by_id));
	if (x->x_by_addr == NULL || x->x_by_id == NULL) {
		free(x->x_by_addr);
		free(x->x_by_id);
		free(x);
		return (SF_RESOURCE_EXHAUSTED);
	}
	pthread_mutex_init(&x->x_mtx, NULL);
	pthread_cond_init(&x->x_cv, NULL);
	x->x_notes_tail    = &x->x_notes;
	x->x_shared        = sf__srv_req_shared(srv);
	srv->s_fleet_addrs = x;
	return (0);
}

void
sf__srv_fleet_addrs_close(sf_server *srv)
{
	struct sf__srv_fleet_addrs *x = srv->s_fleet_addrs;
	if (x == NULL) {
		return;
	}
	fa_clear(x);
	fa_notes_replay(x, false);
	free(x->x_by_addr);
	free(x->x_by_id);
	pthread_cond_destroy(&x->x_cv);
	pthread_mutex_destroy(&x->x_mtx);
	free(x);
	srv->s_fleet_addrs = NULL;
}

int
sf__srv_fleet_addrs_sync(sf_server *srv)
{
	struct sf__srv_fleet_addrs *x = srv->s_fleet_addrs;
	ProtobufCMessage          **all;
	size_t                      n;
	sf_arena                    a;
	int64_t                     now;
	int                         rv = 0;

	pthread_mutex_lock(&x->x_mtx);
	// One build at a time; the others wait for it (the first writes
	// after a start must not check against an empty index).
	while (x->x_building) {
		pthread_cond_wait(&x->x_cv, &x->x_mtx);
	}
	now = sf_clock_mono_ms();
	if (x->x_valid
	    && (!x->x_shared || now - x->x_built_ms < ADDRS_SHARED_MS)) {
		pthread_mutex_unlock(&x->x_mtx);
		return (0);
	}
	x->x_building   = true;
	x->x_notes_lost = false;
	pthread_mutex_unlock(&x->x_mtx);
	// Read without the lock: the writer's lookups and done functions
	// must not wait for a store read.
	sf_arena_init(&a);
	rv = sf_store_record_list(srv->s_store, SF_STORE_FLEET,
	    &svcfleet__v1__fleet_service__descriptor, sf_arena_pbc(&a), &all,
	    &n);
	pthread_mutex_lock(&x->x_mtx);
	if (rv == 0) {
		fa_clear(x);
		for (size_t i = 0; i < n && rv == 0; i++) {
			rv = fa_put(x, (const sf_fleet *) all[i]);
		}
		// Writes committed meanwhile, in their order, over the list.
		int rr        = fa_notes_replay(x, true);
		rv            = rv != 0 ? rv : rr;
		x->x_valid    = rv == 0 && !x->x_notes_lost;
		x->x_built_ms = now;
		x->x_builds++;
		SF_INFO("fleet",
		    "address index built from %zu FleetServices (%zu "
		    "addresses, build %llu)",
		    n, x->x_n, (unsigned long long) x->x_builds);
	} else {
		fa_notes_replay(x, false);
	}
	x->x_building = false;
	pthread_cond_broadcast(&x->x_cv);
	pthread_mutex_unlock(&x->x_mtx);
	sf_arena_fini(&a);
	return (rv);
}

const char *
sf__srv_fleet_addrs_clash(sf_server *srv, sf_arena *a, const char *addr,
    const char *ns, const char *name)
{
	struct sf__srv_fleet_addrs *x    = srv->s_fleet_addrs;
	const fa_ent               *best = NULL;
	const char                 *r    = NULL;
	char                        id[600];

	snprintf(id, sizeof(id), "%s/%s", sf_nz(ns), sf_nz(name));
	pthread_mutex_lock(&x->x_mtx);
	// The first FleetService in id order and its first cluster in status
	// order, as reading them all gave.
	for (const fa_ent *e = x->x_by_addr[fa_hash(addr) & (x->x_nb - 1)];
	     e != NULL; e    = e->e_next_addr) {
		int c;
		if (strcmp(e->e_addr, addr) != 0 || strcmp(e->e_id, id) == 0) {
			continue;
		}
		c = best == NULL ? -1 : strcmp(e->e_id, best->e_id);
		if (c < 0 || (c == 0 && e->e_pos < best->e_pos)) {
			best = e;
		}
	}
	if (best != NULL) {
		r = sf_arena_printf(a, "FleetService %s in cluster %s",
		    best->e_id, best->e_cluster);
		r = r != NULL ? r : "another FleetService";
	}
	pthread_mutex_unlock(&x->x_mtx);
	return (r);
}

void
sf__srv_fleet_addrs_put(sf_server *srv, const sf_fleet *fs)
{
	struct sf__srv_fleet_addrs *x = srv->s_fleet_addrs;
	char                        id[600];
	snprintf(id, sizeof(id), "%s/%s", sf_nz(fs->metadata->namespace_),
	    sf_nz(fs->metadata->name));
	pthread_mutex_lock(&x->x_mtx);
	if (x->x_building) {
		fa_note_add(x, id, fs);
	}
	if (fa_put(x, fs) != 0) {
		x->x_valid = false; // rebuilt by the next write
	}
	pthread_mutex_unlock(&x->x_mtx);
}

void
sf__srv_fleet_addrs_del(sf_server *srv, const char *ns, const char *name)
{
	struct sf__srv_fleet_addrs *x = srv->s_fleet_addrs;
	char                        id[600];
	snprintf(id, sizeof(id), "%s/%s", sf_nz(ns), sf_nz(name));
	pthread_mutex_lock(&x->x_mtx);
	if (x->x_building) {
		fa_note_add(x, id, NULL);
	}
	fa_remove(x, id);
	pthread_mutex_unlock(&x->x_mtx);
}
