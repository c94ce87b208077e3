// lmdb_store.c: the LMDB backend: opening, schema, closing, statistics.
//
// The other parts live beside it: lmdb_writer.c (the group-commit writer
// and map growth), lmdb_txn.c (what write functions call), lmdb_read.c
// (reads, lists, the change feed) and lmdb_key.c (key layouts, tokens).
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

const char *const sf__store_db_names[SF__DB_COUNT] = {
    [SF__DB_META]      = "meta",
    [SF__DB_SERVICES]  = "services",
    [SF__DB_CLUSTERS]  = "clusters",
    [SF__DB_NODEPORTS] = "nodeports",
    [SF__DB_FEED]      = "feed",
    [SF__DB_BINDINGS]  = "bindings",
    [SF__DB_TOKENS]    = "tokens",
    [SF__DB_AUDIT]     = "audit",
    [SF__DB_SECRETS]   = "secrets",
    [SF__DB_HISTORY]   = "history", // i19
    [SF__DB_FLEET]     = "fleetservices",
    [SF__DB_ADDRS]     = "addressclaims", // i18-addr
};

// ------------------------------------------------------------- helpers

int
sf__store_mdb_code(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return (SF_OK);
	case MDB_NOTFOUND:
		return (SF_NOT_FOUND);
	case MDB_KEYEXIST:
		return (SF_ALREADY_EXISTS);
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
	case MDB_DBS_FULL:
	case ENOSPC:
	case ENOMEM:
		return (SF_RESOURCE_EXHAUSTED);
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
	case EAGAIN:
	case EIO:
		return (SF_UNAVAILABLE);
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return (SF_DATA_LOSS);
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return (SF_FAILED_PRECONDITION);
	case EACCES:
	case EPERM:
	case EROFS:
		return (SF_PERMISSION_DENIED);
	default:
		return (SF_INTERNAL);
	}
}

void
sf__store_key_feed(uint8_t *buf, uint64_t rev, uint32_t seq)
{
	sf__store_be64_put(buf, rev);
	sf__store_be32_put(buf + 8, seq);
}

uint64_t
sf__store_key_feed_rev(const MDB_val *k)
{
	if (k->mv_size < 8) {
		return (0);
	}
	return (sf__store_be64_get(k->mv_data));
}

int
sf__store_read_begin(sf_store *s, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(&s->s_maplock);
	if (atomic_load(&s->s_broken)) {
		pthread_rwlock_unlock(&s->s_maplock);
		return (SF_UNAVAILABLE);
	}
	if ((rc = mdb_txn_begin(s->s_env, NULL, MDB_RDONLY, txn)) != 0) {
		pthread_rwlock_unlock(&s->s_maplock);
		SF_WARN("store", "cannot begin a read transaction: %s",
		    mdb_strerror(rc));
		return (sf__store_mdb_code(rc));
	}
	return (0);
}

void
sf__store_read_end(sf_store *s, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->s_maplock);
}

int
sf__store_meta_get(sf_store *s, MDB_txn *txn, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *) name}, d;
	int     rc;

	if ((rc = mdb_get(txn, s->s_dbi[SF__DB_META], &k, &d)) != 0) {
		return (rc);
	}
	if (d.mv_size != 8) {
		return (MDB_CORRUPTED);
	}
	*v = sf__store_be64_get(d.mv_data);
	return (0);
}

int
sf__store_meta_put(sf_store *s, MDB_txn *txn, const char *name, uint64_t v)
{
	uint8_t b[8];
	MDB_val k = {strlen(name), (void *) name}, d = {8, b};

	sf__store_be64_put(b, v);
	return (mdb_put(txn, s->s_dbi[SF__DB_META], &k, &d, 0));
}

// ------------------------------------------------------------- opening

// make_dir creates dir and missing parents with mode 0700.
static int
make_dir(const char *dir, sf_status *st)
{
	struct stat sb;
	char       *p, *tmp;

	if (stat(dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "data directory %s exists and is not a directory",
			    dir));
		}
		if ((sb.st_mode & 077) != 0) {
			SF_WARN("store",
			    "data directory %s is accessible to other users "
			    "(mode %03o); 0700 is recommended",
			    dir, (unsigned) (sb.st_mode & 0777));
		}
		return (0);
	}
	if ((tmp = strdup(dir)) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	for (p = tmp + 1;; p++) {
		char c = *p;
		if (c != '/' && c != '\0') {
			continue;
		}
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
			int e = errno;
			free(tmp);
			return (sf_status_set(st,
			    e == EACCES || e == EPERM || e == EROFS
			        ? SF_PERMISSION_DENIED
			        : SF_FAILED_PRECONDITION,
			    "cannot create data directory %s: %s", dir,
			    strerror(e)));
		}
		*p = c;
		if (c == '\0') {
			break;
		}
	}
	free(tmp);
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "data directory %s could not be created", dir));
	}
	return (0);
}

// lock_dir takes an exclusive flock on DIR/store.lock: LMDB must not be
// opened twice by one process, and two svcfleetd on one directory would
// both believe they own the revision counter.
static int
lock_dir(sf_store *s, sf_status *st)
{
	char path[4096];
	char pid[32];

	snprintf(path, sizeof(path), "%s/store.lock", s->s_dir);
	s->s_lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->s_lockfd < 0) {
		return (sf_status_set(st,
		    errno == EACCES ? SF_PERMISSION_DENIED
		                    : SF_FAILED_PRECONDITION,
		    "cannot open %s: %s", path, strerror(errno)));
	}
	if (flock(s->s_lockfd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t n = pread(s->s_lockfd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0]      = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "data directory %s is in use by another store (pid %s)",
		    s->s_dir, pid[0] != '\0' ? pid : "unknown"));
	}
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long) getpid());
	if (ftruncate(s->s_lockfd, 0) != 0
	    || pwrite(s->s_lockfd, pid, (size_t) n, 0) != n) {
		SF_WARN("store", "cannot write the pid into %s", path);
	}
	return (0);
}

static int
env_open(sf_store *s, const sf_store_opts *o, sf_status *st)
{
	char        path[4096];
	struct stat sb;
	uint64_t    want
	    = o->so_map_size ? o->so_map_size : SF__STORE_MAP_DEFAULT;
	long        pg = sysconf(_SC_PAGESIZE);
	MDB_envinfo info;
	int         rc, dead = 0;
	bool        fresh;

	if (pg <= 0) {
		pg = 4096;
	}
	want = (want + (uint64_t) pg - 1) / (uint64_t) pg * (uint64_t) pg;
	snprintf(path, sizeof(path), "%s/data.mdb", s->s_dir);
	fresh = stat(path, &sb) != 0 || sb.st_size == 0;

	if ((rc = mdb_env_create(&s->s_env)) != 0) {
		s->s_env = NULL;
		goto fail;
	}
	if ((rc = mdb_env_set_maxdbs(s->s_env, SF__STORE_MAXDBS)) != 0
	    || (rc = mdb_env_set_maxreaders(s->s_env, SF__STORE_MAXREADERS))
	        != 0) {
		goto fail;
	}
	// An existing environment keeps the map size recorded in it (the
	// one it last grew to); a smaller configured size would only make
	// the first write hit MDB_MAP_FULL again.
	if (fresh && (rc = mdb_env_set_mapsize(s->s_env, want)) != 0) {
		goto fail;
	}
	// MDB_NOTLS: reads run on many (pooled) threads, and a slot must
	// belong to the transaction, not to the thread.
	rc = mdb_env_open(s->s_env, s->s_dir,
	    MDB_NOTLS | (o->so_nosync ? MDB_NOSYNC : 0), 0600);
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "%s is not an LMDB environment this svcfleet can open: %s",
		    path, mdb_strerror(rc)));
	}
	if (rc != 0) {
		goto fail;
	}
	// Keys are checked against 511 bytes; a liblmdb built with a
	// smaller MDB_MAXKEYSIZE would refuse some of them later.
	if (mdb_env_get_maxkeysize(s->s_env) < SF__STORE_KEY_MAX) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "this liblmdb allows keys of %d bytes, the store needs %d",
		    mdb_env_get_maxkeysize(s->s_env), SF__STORE_KEY_MAX));
	}
	if ((rc = mdb_env_info(s->s_env, &info)) != 0) {
		goto fail;
	}
	if (info.me_mapsize < want) {
		if ((rc = mdb_env_set_mapsize(s->s_env, want)) != 0) {
			goto fail;
		}
		info.me_mapsize = want;
	}
	atomic_store(&s->s_map_size, (uint64_t) info.me_mapsize);
	// Clear reader slots left behind by processes that died.
	if ((rc = mdb_reader_check(s->s_env, &dead)) != 0) {
		goto fail;
	}
	if (dead > 0) {
		SF_WARN("store", "cleared %d stale reader slot(s) in %s", dead,
		    s->s_dir);
	}
	return (0);
fail:
	return (sf_status_set(st, sf__store_mdb_code(rc),
	    "cannot open the store in %s: %s", s->s_dir, mdb_strerror(rc)));
}

// schema_open checks the schema version before changing anything, creates
// what is missing and loads the meta values.
static int
schema_open(sf_store *s, sf_status *st)
{
	MDB_txn    *txn = NULL;
	MDB_dbi     meta, main_dbi;
	MDB_stat    ms;
	MDB_val     k, v;
	MDB_cursor *cur;
	uint64_t    rev = 0, nsvc = 0, feed_first = 0;
	bool        fresh      = false;
	uint32_t    old_schema = SF__STORE_SCHEMA;
	int         rc;
	const char *what = "begin";

	if ((rc = mdb_txn_begin(s->s_env, NULL, 0, &txn)) != 0) {
		goto fail;
	}
	what = "open meta";
	rc   = mdb_dbi_open(txn, sf__store_db_names[SF__DB_META], 0, &meta);
	if (rc == MDB_NOTFOUND) {
		// No meta: a new store, unless the environment holds other
		// data (then it is not ours to change).
		if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0
		    || (rc = mdb_stat(txn, main_dbi, &ms)) != 0) {
			goto fail;
		}
		if (ms.ms_entries > 0) {
			mdb_txn_abort(txn);
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "%s holds an LMDB environment that is not a "
			    "svcfleet store",
			    s->s_dir));
		}
		fresh = true;
	} else if (rc != 0) {
		goto fail;
	} else {
		uint32_t schema;
		k.mv_data = SF__META_SCHEMA;
		k.mv_size = strlen(SF__META_SCHEMA);
		if ((rc = mdb_get(txn, meta, &k, &v)) != 0 || v.mv_size != 4) {
			mdb_txn_abort(txn);
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "the store in %s has no valid schema version",
			    s->s_dir));
		}
		schema = sf__store_be32_get(v.mv_data);
		if (schema > SF__STORE_SCHEMA) {
			mdb_txn_abort(txn);
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "the store in %s has schema version %" PRIu32
			    ", newer than this svcfleet's %d: run a newer "
			    "svcfleetd or use another data directory",
			    s->s_dir, schema, SF__STORE_SCHEMA));
		}
		// Schema 1 had no secrets database: sf__store_secrets_open
		// below seals the credentials it kept in cluster records.
		old_schema = schema;
	}
	what = "create databases";
	for (int i = 0; i < SF__DB_COUNT; i++) {
		rc = mdb_dbi_open(
		    txn, sf__store_db_names[i], MDB_CREATE, &s->s_dbi[i]);
		if (rc != 0) {
			goto fail;
		}
	}
	if (fresh) {
		uint8_t b[4];
		char    id[37];
		what = "initialise meta";
		if (sf__store_uuid(id) != 0) {
			mdb_txn_abort(txn);
			return (sf_status_set(st, SF_INTERNAL,
			    "cannot make an installation id: no randomness"));
		}
		sf__store_be32_put(b, SF__STORE_SCHEMA);
		k.mv_data = SF__META_SCHEMA;
		k.mv_size = strlen(SF__META_SCHEMA);
		v.mv_data = b;
		v.mv_size = 4;
		if ((rc = mdb_put(txn, s->s_dbi[SF__DB_META], &k, &v, 0)) != 0)
			goto fail;
		k.mv_data = SF__META_INSTID;
		k.mv_size = strlen(SF__META_INSTID);
		v.mv_data = id;
		v.mv_size = strlen(id);
		if ((rc = mdb_put(txn, s->s_dbi[SF__DB_META], &k, &v, 0)) != 0
		    || (rc = sf__store_meta_put(s, txn, SF__META_REVISION, 0))
		        != 0
		    || (rc = sf__store_meta_put(
		            s, txn, SF__META_FEED_FLOOR, 1))
		        != 0
		    || (rc = sf__store_meta_put(s, txn, SF__META_SERVICES, 0))
		        != 0) {
			goto fail;
		}
	}
	if ((rc = sf__store_secrets_open(s, txn, st)) != 0) {
		mdb_txn_abort(txn);
		return (rc);
	}
	if (old_schema < SF__STORE_SCHEMA) {
		uint8_t b[4];
		what = "record the schema";
		sf__store_be32_put(b, SF__STORE_SCHEMA);
		k.mv_data = SF__META_SCHEMA;
		k.mv_size = strlen(SF__META_SCHEMA);
		v.mv_data = b;
		v.mv_size = 4;
		if ((rc = mdb_put(txn, s->s_dbi[SF__DB_META], &k, &v, 0))
		    != 0) {
			goto fail;
		}
		SF_INFO("store", "upgraded %s from schema %" PRIu32 " to %d",
		    s->s_dir, old_schema, SF__STORE_SCHEMA);
	}
	what      = "read meta";
	k.mv_data = SF__META_INSTID;
	k.mv_size = strlen(SF__META_INSTID);
	if ((rc = mdb_get(txn, s->s_dbi[SF__DB_META], &k, &v)) != 0
	    || v.mv_size == 0 || v.mv_size >= sizeof(s->s_instid)) {
		rc = rc != 0 ? rc : MDB_CORRUPTED;
		goto fail;
	}
	memcpy(s->s_instid, v.mv_data, v.mv_size);
	s->s_instid[v.mv_size] = '\0';
	if ((rc = sf__store_meta_get(s, txn, SF__META_REVISION, &rev)) != 0
	    || (rc = sf__store_meta_get(s, txn, SF__META_SERVICES, &nsvc))
	        != 0) {
		goto fail;
	}
	if ((rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_FEED], &cur)) != 0) {
		goto fail;
	}
	if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0) {
		feed_first = sf__store_key_feed_rev(&k);
	}
	mdb_cursor_close(cur);
	what = "commit";
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	atomic_store(&s->s_revision, rev);
	atomic_store(&s->s_services, nsvc);
	atomic_store(&s->s_feed_first, feed_first);
	return (0);
fail:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	return (sf_status_set(st, sf__store_mdb_code(rc),
	    "cannot open the store in %s (%s): %s", s->s_dir, what,
	    mdb_strerror(rc)));
}

static void lmdb_close(sf_store *s);

static int
lmdb_open(sf_store **out, const sf_store_opts *o, sf_status *st)
{
	sf_store *s;
	int       rv;

	*out = NULL;
	if (o == NULL || o->so_dir == NULL || o->so_dir[0] == '\0') {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "the store needs a data directory"));
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	s->s_ops    = &sf_store_lmdb_ops;
	s->s_lockfd = -1;
	s->s_batch_max
	    = o->so_batch_max ? o->so_batch_max : SF__STORE_BATCH_DEFAULT;
	s->s_feed_keep
	    = o->so_feed_keep ? o->so_feed_keep : SF__STORE_FEED_KEEP_DEFAULT;
	s->s_queue_max        = o->so_queue_max ? o->so_queue_max : 4096;
	s->s_audit_keep       = o->so_audit_keep ? o->so_audit_keep : 1000000;
	s->s_audit_max_age_ms = o->so_audit_max_age_ms
	    ? o->so_audit_max_age_ms
	    : (int64_t) 90 * 24 * 3600 * 1000;
	atomic_store(&s->s_map_max, SF__STORE_MAP_MAX);
	// Without fsync a commit is cheap: waiting for company would only
	// add latency.
	s->s_linger_us = o->so_nosync || o->so_linger_us < 0 ? 0
	    : o->so_linger_us > 0                            ? o->so_linger_us
	                                                     : 1000;
	s->s_sealed_ok = o->so_sealed_ok;
	if (o->so_secret_key != NULL) {
		s->s_sealing = true;
		memcpy(s->s_secret_key, o->so_secret_key,
		    SF_STORE_SECRET_KEY_LEN);
		sf__store_key_id(s->s_secret_key, s->s_key_id);
	}

	// Writer-preferring, so a steady stream of readers cannot starve a
	// map resize (readers never nest read transactions on one thread).
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
	    &ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rv = pthread_rwlock_init(&s->s_maplock, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (rv != 0) {
		free(s);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	s->s_maplock_ok = true;
	// The writer's linger waits on s_qcv with a monotonic deadline.
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rv = pthread_cond_init(&s->s_qcv, &ca);
	pthread_condattr_destroy(&ca);
	if (rv != 0 || pthread_mutex_init(&s->s_qmtx, NULL) != 0
	    || pthread_mutex_init(&s->s_hookmtx, NULL) != 0) {
		// Not worth unwinding separately: these do not fail on Linux.
		lmdb_close(s);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	s->s_sync_ok = true;
	if (sf__store_lease_mem_new(&s->s_leases) != 0) {
		lmdb_close(s);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	s->s_batch = calloc(s->s_batch_max, sizeof(*s->s_batch));
	if ((s->s_dir = strdup(o->so_dir)) == NULL || s->s_batch == NULL) {
		lmdb_close(s);
		return (sf_status_set(st, SF_RESOURCE_EXHAUSTED, NULL));
	}
	if ((rv = make_dir(s->s_dir, st)) != 0 || (rv = lock_dir(s, st)) != 0
	    || (rv = env_open(s, o, st)) != 0
	    || (rv = schema_open(s, st)) != 0) {
		lmdb_close(s);
		return (rv);
	}
	if ((rv = sf__store_writer_start(s)) != 0) {
		lmdb_close(s);
		return (sf_status_set(
		    st, rv, "cannot start the store's writer thread"));
	}
	SF_INFO("store",
	    "opened %s: revision %" PRIu64 ", %" PRIu64
	    " services, map %" PRIu64 " MiB, installation %s%s",
	    s->s_dir, atomic_load(&s->s_revision), atomic_load(&s->s_services),
	    atomic_load(&s->s_map_size) >> 20, s->s_instid,
	    o->so_nosync ? " (nosync: not durable)" : "");
	*out = s;
	return (0);
}

static void
lmdb_close(sf_store *s)
{
	if (s == NULL) {
		return;
	}
	// Queued requests finish (their done callbacks run) first.
	sf__store_writer_stop(s);
	if (s->s_env != NULL) {
		// Reads still in progress on other threads end first.
		pthread_rwlock_wrlock(&s->s_maplock);
		mdb_env_close(s->s_env);
		s->s_env = NULL;
		pthread_rwlock_unlock(&s->s_maplock);
		// The writer's work since open, for operators and benchmarks:
		// writes per commit shows group commit at work.
		SF_INFO("store",
		    "closed %s at revision %" PRIu64 ": %" PRIu64
		    " writes in %" PRIu64 " commits, largest batch %" PRIu64,
		    s->s_dir, atomic_load(&s->s_revision),
		    atomic_load(&s->s_writes), atomic_load(&s->s_commits),
		    atomic_load(&s->s_batch_largest));
	}
	if (s->s_lockfd >= 0) {
		close(s->s_lockfd); // releases the flock
	}
	if (s->s_sync_ok) {
		pthread_mutex_destroy(&s->s_qmtx);
		pthread_cond_destroy(&s->s_qcv);
		pthread_mutex_destroy(&s->s_hookmtx);
	}
	if (s->s_maplock_ok) {
		pthread_rwlock_destroy(&s->s_maplock);
	}
	sf__store_lease_mem_free(s->s_leases);
	free(s->s_batch);
	free(s->s_dir);
	OPENSSL_cleanse(s->s_secret_key, sizeof(s->s_secret_key));
	free(s);
}

static void
lmdb_stats(sf_store *s, sf_store_stats *out)
{
	MDB_envinfo info;
	MDB_stat    ms;

	memset(out, 0, sizeof(*out));
	out->ss_revision   = atomic_load(&s->s_revision);
	out->ss_commits    = atomic_load(&s->s_commits);
	out->ss_writes     = atomic_load(&s->s_writes);
	out->ss_failed     = atomic_load(&s->s_failed);
	out->ss_batch_max  = atomic_load(&s->s_batch_largest);
	out->ss_map_size   = atomic_load(&s->s_map_size);
	out->ss_services   = atomic_load(&s->s_services);
	out->ss_feed_first = atomic_load(&s->s_feed_first);
	out->ss_map_grows  = atomic_load(&s->s_map_grows);
	// The environment's info reads the mapped meta pages: not while the
	// map is being replaced.
	pthread_rwlock_rdlock(&s->s_maplock);
	if (!atomic_load(&s->s_broken) && mdb_env_info(s->s_env, &info) == 0
	    && mdb_env_stat(s->s_env, &ms) == 0) {
		out->ss_map_used = (uint64_t) (info.me_last_pgno + 1)
		    * (uint64_t) ms.ms_psize;
	}
	pthread_rwlock_unlock(&s->s_maplock);
}

static const char *
lmdb_installation_id(sf_store *s)
{
	return (s->s_instid);
}

// ------------------------------------------------------- raw test hooks

int
sf__store_txn_put_raw(sf_store_txn *t, enum sf__store_db db, const void *k,
    size_t klen, const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *) k}, val = {vlen, (void *) v};
	int     rc;

	if ((unsigned) db >= SF__DB_COUNT) {
		return (SF_INVALID_ARGUMENT);
	}
	rc = mdb_put(t->t_mdb, t->t_store->s_dbi[db], &key, &val, 0);
	return (rc != 0 ? sf__store_txn_fail(t, rc, "raw put") : 0);
}

int
sf__store_get_raw(sf_store *s, enum sf__store_db db, const void *k,
    size_t klen, void **v, size_t *vlen)
{
	MDB_txn *txn;
	MDB_val  key = {klen, (void *) k}, val;
	int      rv;

	*v = NULL;
	if ((unsigned) db >= SF__DB_COUNT) {
		return (SF_INVALID_ARGUMENT);
	}
	if ((rv = sf__store_read_begin(s, &txn)) != 0) {
		return (rv);
	}
	rv = mdb_get(txn, s->s_dbi[db], &key, &val);
	if (rv == 0) {
		if ((*v = malloc(val.mv_size + 1)) == NULL) {
			rv = ENOMEM;
		} else {
			memcpy(*v, val.mv_data, val.mv_size);
			((char *) *v)[val.mv_size] = '\0';
			*vlen                      = val.mv_size;
		}
	}
	sf__store_read_end(s, txn);
	return (sf__store_mdb_code(rv));
}

int
sf__store_count_raw(sf_store *s, enum sf__store_db db, uint64_t *n)
{
	MDB_txn *txn;
	MDB_stat ms;
	int      rv;

	if ((unsigned) db >= SF__DB_COUNT) {
		return (SF_INVALID_ARGUMENT);
	}
	if ((rv = sf__store_read_begin(s, &txn)) != 0) {
		return (rv);
	}
	rv = mdb_stat(txn, s->s_dbi[db], &ms);
	*n = rv == 0 ? ms.ms_entries : 0;
	sf__store_read_end(s, txn);
	return (sf__store_mdb_code(rv));
}

void
sf__store_set_map_max(sf_store *s, uint64_t bytes)
{
	atomic_store(&s->s_map_max, bytes);
}

// ------------------------------------------------------------ ops table

// Reconciler leases and claims (issue 16): held in memory.
static int
lmdb_lease_grant(sf_store *s, int64_t ttl, uint64_t *lease, sf_status *st)
{
	return (sf__store_lease_mem_grant(s->s_leases, ttl, lease, st));
}

static int
lmdb_lease_renew(sf_store *s, uint64_t lease, sf_status *st)
{
	return (sf__store_lease_mem_renew(s->s_leases, lease, st));
}

static int
lmdb_lease_revoke(sf_store *s, uint64_t lease, sf_status *st)
{
	return (sf__store_lease_mem_revoke(s->s_leases, lease, st));
}

static int
lmdb_member_put(sf_store *s, const char *id, uint64_t lease, const uint8_t *v,
    size_t n, sf_status *st)
{
	return (
	    sf__store_lease_mem_member_put(s->s_leases, id, lease, v, n, st));
}

static int
lmdb_member_list(sf_store *s, sf_store_member **out, size_t *n, sf_status *st)
{
	return (sf__store_lease_mem_member_list(s->s_leases, out, n, st));
}

static int
lmdb_claim_acquire(sf_store *s, const char *cluster, const char *owner,
    uint64_t lease, uint64_t *token, sf_status *st)
{
	return (sf__store_lease_mem_claim_acquire(
	    s->s_leases, cluster, owner, lease, token, st));
}

static int
lmdb_claim_release(
    sf_store *s, const char *cluster, uint64_t token, sf_status *st)
{
	return (sf__store_lease_mem_claim_release(
	    s->s_leases, cluster, token, st));
}

static int
lmdb_claim_list(sf_store *s, sf_store_claim **out, size_t *n, sf_status *st)
{
	return (sf__store_lease_mem_claim_list(s->s_leases, out, n, st));
}

const sf_store_ops sf_store_lmdb_ops = {
    .so_size                       = sizeof(sf_store_ops),
    .so_name                       = "lmdb",
    .so_open                       = lmdb_open,
    .so_close                      = lmdb_close,
    .so_stats                      = lmdb_stats,
    .so_installation_id            = lmdb_installation_id,
    .so_service_get                = sf__store_lmdb_service_get,
    .so_service_list               = sf__store_lmdb_service_list,
    .so_cluster_get                = sf__store_lmdb_cluster_get,
    .so_cluster_list               = sf__store_lmdb_cluster_list,
    .so_feed_read                  = sf__store_lmdb_feed_read,
    .so_set_commit_hook            = sf__store_lmdb_set_commit_hook,
    .so_submit                     = sf__store_lmdb_submit,
    .so_record_get                 = sf__store_lmdb_record_get,
    .so_record_list                = sf__store_lmdb_record_list,
    .so_txn_record_get             = sf__store_lmdb_txn_record_get,
    .so_txn_record_put             = sf__store_lmdb_txn_record_put,
    .so_txn_record_delete          = sf__store_lmdb_txn_record_delete,
    .so_txn_audit_append           = sf__store_lmdb_txn_audit_append,
    .so_audit_list                 = sf__store_lmdb_audit_list,
    .so_txn_revision               = sf__store_lmdb_txn_revision,
    .so_txn_now_ms                 = sf__store_lmdb_txn_now_ms,
    .so_txn_service_get            = sf__store_lmdb_txn_service_get,
    .so_txn_service_put            = sf__store_lmdb_txn_service_put,
    .so_txn_service_delete         = sf__store_lmdb_txn_service_delete,
    .so_txn_nodeport_owner         = sf__store_lmdb_txn_nodeport_owner,
    .so_txn_cluster_count_services = sf__store_lmdb_txn_cluster_count_services,
    .so_txn_cluster_get            = sf__store_lmdb_txn_cluster_get,
    .so_txn_cluster_spec_get       = sf__store_lmdb_txn_cluster_spec_get,
    .so_txn_cluster_put            = sf__store_lmdb_txn_cluster_put,
    .so_txn_cluster_delete         = sf__store_lmdb_txn_cluster_delete,
    .so_txn_wrote                  = sf__store_lmdb_txn_wrote,
    .so_lease_grant                = lmdb_lease_grant,
    .so_lease_renew                = lmdb_lease_renew,
    .so_lease_revoke               = lmdb_lease_revoke,
    .so_member_put                 = lmdb_member_put,
    .so_member_list                = lmdb_member_list,
    .so_claim_acquire              = lmdb_claim_acquire,
    .so_claim_release              = lmdb_claim_release,
    .so_claim_list                 = lmdb_claim_list,
    // i21-cpu2: clusters without credentials (the fleet loop).
    .so_cluster_specs_min = sf__store_lmdb_cluster_specs_min,
};
