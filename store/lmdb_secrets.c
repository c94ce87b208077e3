// lmdb_secrets.c: where the LMDB backend keeps sealed cluster credentials.
//
// The clusters database holds each record with its credentials empty; the
// secrets database holds, under the same key, the credentials sealed
// (seal.c has the format and the crypto):
//
//   secrets  name\0 -> sealed blob
//
// meta "secret_key_id" names the key they are sealed with.
//
// Why here and not in the handlers: every reader (GetCluster, ListClusters,
// the reconciler's credential reads, the live cluster reads) goes through
// the store, so sealing at this one boundary leaves no path that writes or
// reads around it, and rotation can rewrite every sealed blob in one
// transaction.
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int
sf__store_secrets_fill(sf_store *s, MDB_txn *txn, const void *key, size_t klen,
    ProtobufCAllocator *alloc, Svcfleet__V1__Cluster *c)
{
	MDB_val k = {klen, (void *) key}, v;
	int     rc, rv;

	rc = mdb_get(txn, s->s_dbi[SF__DB_SECRETS], &k, &v);
	if (rc == MDB_NOTFOUND) {
		return (0); // no credentials, or kept as given (no key)
	}
	if (rc != 0) {
		return (sf__store_mdb_code(rc));
	}
	if (!s->s_sealing) {
		return (SF_FAILED_PRECONDITION);
	}
	rv = sf__store_unseal(
	    s->s_secret_key, c->name, v.mv_data, v.mv_size, alloc, c);
	if (rv != 0) {
		SF_ERROR("store",
		    "the credentials of cluster \"%s\" cannot be opened: %s",
		    c->name,
		    rv == SF_FAILED_PRECONDITION
		        ? "sealed with another secret key"
		        : "the sealed data is damaged or was moved");
	}
	return (rv);
}

// put_cluster_raw packs c into the clusters database under key.
static int
put_cluster_raw(sf_store *s, MDB_txn *txn, const void *key, size_t klen,
    const Svcfleet__V1__Cluster *c)
{
	MDB_val k = {klen, (void *) key};
	MDB_val v = {svcfleet__v1__cluster__get_packed_size(c), NULL};
	int     rc;

	rc = mdb_put(txn, s->s_dbi[SF__DB_CLUSTERS], &k, &v, MDB_RESERVE);
	if (rc == 0) {
		svcfleet__v1__cluster__pack(c, v.mv_data);
	}
	return (rc);
}

int
sf__store_cluster_write(sf_store *s, MDB_txn *txn, const void *key,
    size_t klen, Svcfleet__V1__Cluster *c, int *mdb_rc)
{
	MDB_val  k    = {klen, (void *) key};
	uint8_t *blob = NULL;
	size_t   blen = 0;
	int      rc, rv;

	*mdb_rc = 0;
	if (!s->s_sealing) {
		rc      = put_cluster_raw(s, txn, key, klen, c);
		*mdb_rc = rc;
		return (rc == 0 ? 0 : sf__store_mdb_code(rc));
	}
	if (sf__store_has_credentials(c)
	    && (rv = sf__store_seal(s->s_secret_key, c->name, c, &blob, &blen))
	        != 0) {
		return (rv);
	}
	// The record goes in without its credentials; they are put back
	// into the caller's message afterwards.
	Svcfleet__V1__Cluster saved;
	sf__store_strip_credentials(c, &saved);
	rc = put_cluster_raw(s, txn, key, klen, c);
	sf__store_restore_credentials(c, &saved);
	if (rc == 0 && blob != NULL) {
		MDB_val v = {blen, blob};
		rc        = mdb_put(txn, s->s_dbi[SF__DB_SECRETS], &k, &v, 0);
	} else if (rc == 0) {
		rc = mdb_del(txn, s->s_dbi[SF__DB_SECRETS], &k, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc;
	}
	free(blob);
	*mdb_rc = rc;
	return (rc == 0 ? 0 : sf__store_mdb_code(rc));
}

int
sf__store_secrets_delete(
    sf_store *s, MDB_txn *txn, const void *key, size_t klen)
{
	MDB_val k  = {klen, (void *) key};
	int     rc = mdb_del(txn, s->s_dbi[SF__DB_SECRETS], &k, NULL);
	return (rc == MDB_NOTFOUND ? 0 : rc);
}

// --------------------------------------------------------------- opening

// seal_plaintext seals the credentials a store written without a key (or
// by an older svcfleet) keeps in its cluster records. Returns an LMDB code;
// *n counts the clusters sealed.
static int
seal_plaintext(sf_store *s, MDB_txn *txn, uint64_t *n)
{
	MDB_cursor *cur;
	MDB_val     k, v;
	int         rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_CLUSTERS], &cur))
	    != 0) {
		return (rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Svcfleet__V1__Cluster *c = svcfleet__v1__cluster__unpack(
		    NULL, v.mv_size, v.mv_data);
		int w;
		if (c == NULL) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (!sf__store_has_credentials(c)) {
			svcfleet__v1__cluster__free_unpacked(c, NULL);
			continue;
		}
		// A copy of the key: the cursor's points into the map, which
		// the write below may change.
		uint8_t kb[SF__STORE_KEY_MAX];
		size_t  kl = k.mv_size < sizeof(kb) ? k.mv_size : sizeof(kb);
		memcpy(kb, k.mv_data, kl);
		sf__store_cluster_write(s, txn, kb, kl, c, &w);
		svcfleet__v1__cluster__free_unpacked(c, NULL);
		if (w != 0) {
			rc = w;
			break;
		}
		(*n)++;
		// Writing may move the cursor's page: find the key again.
		k.mv_data = kb;
		k.mv_size = kl;
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET)) != 0) {
			break;
		}
	}
	mdb_cursor_close(cur);
	return (rc == MDB_NOTFOUND ? 0 : rc);
}

int
sf__store_secrets_open(sf_store *s, MDB_txn *txn, sf_status *st)
{
	MDB_val k = {strlen(SF__META_SECRET_KEY_ID), SF__META_SECRET_KEY_ID},
	        v;
	MDB_stat ms;
	uint8_t  id[SF__STORE_KEY_ID_LEN];
	char     want[17], have[17];
	uint64_t n = 0;
	int      rc;

	rc = mdb_get(txn, s->s_dbi[SF__DB_META], &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		return (sf_status_set(st, sf__store_mdb_code(rc),
		    "cannot read the secret key id: %s", mdb_strerror(rc)));
	}
	if (!s->s_sealing) {
		if (s->s_sealed_ok) {
			return (0);
		}
		if (rc == 0
		    || (mdb_stat(txn, s->s_dbi[SF__DB_SECRETS], &ms) == 0
		        && ms.ms_entries > 0)) {
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "the store in %s holds sealed cluster "
			    "credentials: "
			    "it must be opened with its secret key",
			    s->s_dir));
		}
		return (0);
	}
	sf__store_key_id_hex(s->s_key_id, want);
	if (rc == 0) {
		if (v.mv_size != SF__STORE_KEY_ID_LEN
		    || memcmp(v.mv_data, s->s_key_id, SF__STORE_KEY_ID_LEN)
		        != 0) {
			memset(id, 0, sizeof(id));
			memcpy(id, v.mv_data,
			    v.mv_size < sizeof(id) ? v.mv_size : sizeof(id));
			sf__store_key_id_hex(id, have);
			return (sf_status_set(st, SF_FAILED_PRECONDITION,
			    "the secret key given (id %s) is not the one the "
			    "cluster credentials in %s are sealed with (id "
			    "%s): "
			    "start with the store's --secret-key-file",
			    want, s->s_dir, have));
		}
	} else {
		v.mv_data = s->s_key_id;
		v.mv_size = SF__STORE_KEY_ID_LEN;
		if ((rc = mdb_put(txn, s->s_dbi[SF__DB_META], &k, &v, 0))
		    != 0) {
			return (sf_status_set(st, sf__store_mdb_code(rc),
			    "cannot record the secret key id: %s",
			    mdb_strerror(rc)));
		}
	}
	if ((rc = seal_plaintext(s, txn, &n)) != 0) {
		return (sf_status_set(st, sf__store_mdb_code(rc),
		    "cannot seal the cluster credentials: %s",
		    mdb_strerror(rc)));
	}
	if (n > 0) {
		SF_WARN("store",
		    "sealed the credentials of %" PRIu64
		    " cluster(s) stored in the clear by an older svcfleetd; "
		    "freed pages of %s/data.mdb may still hold the old text "
		    "until `svcfleetd rotate-secret-key` rewrites the file",
		    n, s->s_dir);
	}
	return (0);
}

// --------------------------------------------------------------- rotation

typedef struct rekey_job {
	const uint8_t *rk_new;
	uint64_t       rk_n;
} rekey_job;

// Runs on the writer: every sealed blob opened with the store's key and
// sealed again with the new one, and the key id replaced, in one commit.
static int
rekey_fn(sf_store_txn *t, void *arg, sf_status *st)
{
	rekey_job  *j = arg;
	sf_store   *s = t->t_store;
	MDB_cursor *cur;
	MDB_val     k, v;
	uint8_t     id[SF__STORE_KEY_ID_LEN];
	int         rc, rv = 0;

	j->rk_n = 0;
	if ((rc = mdb_cursor_open(t->t_mdb, s->s_dbi[SF__DB_SECRETS], &cur))
	    != 0) {
		return (sf__store_txn_fail(t, rc, "open the secrets"));
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Svcfleet__V1__Cluster c = SVCFLEET__V1__CLUSTER__INIT;
		uint8_t              *blob;
		size_t                blen;
		c.name = (char *) k.mv_data; // keys are name\0
		if ((rv = sf__store_unseal(s->s_secret_key, c.name, v.mv_data,
		         v.mv_size, NULL, &c))
		    != 0) {
			sf_status_set(st, rv,
			    "the credentials of cluster \"%s\" cannot be "
			    "opened with the current key",
			    c.name);
			break;
		}
		rv = sf__store_seal(j->rk_new, c.name, &c, &blob, &blen);
		if (c.token != NULL && c.token[0] != '\0') {
			OPENSSL_cleanse(c.token, strlen(c.token));
			free(c.token);
		}
		free(c.client_cert.data);
		if (c.client_key.data != NULL) {
			OPENSSL_cleanse(c.client_key.data, c.client_key.len);
			free(c.client_key.data);
		}
		if (rv != 0) {
			sf_status_set(st, rv, "sealing failed");
			break;
		}
		MDB_val nv = {blen, blob};
		rc         = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
		free(blob);
		if (rc != 0) {
			mdb_cursor_close(cur);
			return (sf__store_txn_fail(t, rc, "reseal"));
		}
		j->rk_n++;
	}
	mdb_cursor_close(cur);
	if (rv != 0) {
		return (rv);
	}
	if (rc != MDB_NOTFOUND) {
		return (sf__store_txn_fail(t, rc, "read the secrets"));
	}
	sf__store_key_id(j->rk_new, id);
	k.mv_data = SF__META_SECRET_KEY_ID;
	k.mv_size = strlen(SF__META_SECRET_KEY_ID);
	v.mv_data = id;
	v.mv_size = sizeof(id);
	if ((rc = mdb_put(t->t_mdb, s->s_dbi[SF__DB_META], &k, &v, 0)) != 0) {
		return (sf__store_txn_fail(t, rc, "record the key id"));
	}
	return (0);
}

// compact rewrites data.mdb without its free pages (where the blobs sealed
// with the old key, or credentials an older svcfleetd kept in the clear,
// may linger): a compacting copy into a new file beside it, made durable,
// then renamed over the old one once the environment is closed.
static int
compact_copy(sf_store *s, char *tmp, size_t cap, sf_status *st)
{
	char path[4096];
	int  rc, fd;

	snprintf(tmp, cap, "%s/.rekey-XXXXXX", s->s_dir);
	if (mkdtemp(tmp) == NULL) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "cannot create %s: %s", tmp, strerror(errno)));
	}
	if ((rc = mdb_env_copy2(s->s_env, tmp, MDB_CP_COMPACT)) != 0) {
		return (sf_status_set(st, sf__store_mdb_code(rc),
		    "compacting copy into %s failed: %s", tmp,
		    mdb_strerror(rc)));
	}
	if (snprintf(path, sizeof(path), "%s/data.mdb", tmp)
	    >= (int) sizeof(path)) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "%s: the path is too long", tmp));
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
		}
		return (sf_status_set(
		    st, SF_INTERNAL, "cannot sync %s: %s", path, strerror(e)));
	}
	close(fd);
	return (0);
}

static int
replace_data(const char *dir, const char *tmp, sf_status *st)
{
	char from[4096], to[4096], lock[4096];
	int  fd;

	if (snprintf(from, sizeof(from), "%s/data.mdb", tmp)
	        >= (int) sizeof(from)
	    || snprintf(to, sizeof(to), "%s/data.mdb", dir) >= (int) sizeof(to)
	    || snprintf(lock, sizeof(lock), "%s/lock.mdb", tmp)
	        >= (int) sizeof(lock)) {
		return (sf_status_set(
		    st, SF_INVALID_ARGUMENT, "%s: the path is too long", dir));
	}
	if (rename(from, to) != 0) {
		return (sf_status_set(st, SF_INTERNAL,
		    "cannot move the compacted store into place: %s",
		    strerror(errno)));
	}
	unlink(lock);
	rmdir(tmp);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	return (0);
}

int
sf_store_rekey(const sf_store_opts *o,
    const uint8_t new_key[SF_STORE_SECRET_KEY_LEN], uint64_t *n, sf_status *st)
{
	sf_store *s;
	rekey_job j         = {.rk_new = new_key};
	char      tmp[4200] = "", *dir;
	int       rv;

	*n = 0;
	if (o->so_secret_key == NULL) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "rotation needs the current secret key"));
	}
	// Opening checks the current key against the store and seals what
	// an older svcfleetd left in the clear.
	if ((rv = sf_store_open(&s, o, st)) != 0) {
		return (rv);
	}
	sf_store_write w = {.w_fn = rekey_fn, .w_arg = &j, .w_status = st};
	if ((rv = sf_store_write_sync(s, &w, NULL)) != 0) {
		if (st->st_code == 0) {
			sf_status_set(st, rv, "re-sealing failed");
		}
		sf_store_close(s);
		return (rv);
	}
	*n = j.rk_n;
	// From here on the store is sealed with the new key whatever
	// happens: a failed compaction is reported, not returned.
	sf_status cst;
	sf_status_init(&cst);
	rv = compact_copy(s, tmp, sizeof(tmp), &cst);
	if ((dir = strdup(s->s_dir)) == NULL && rv == 0) {
		rv = sf_status_set(&cst, SF_RESOURCE_EXHAUSTED, NULL);
	}
	sf_store_close(s);
	if (rv == 0) {
		rv = replace_data(dir, tmp, &cst);
	} else if (tmp[0] != '\0') {
		// Leave no half-made copy behind.
		char p[4300];
		snprintf(p, sizeof(p), "%s/data.mdb", tmp);
		unlink(p);
		snprintf(p, sizeof(p), "%s/lock.mdb", tmp);
		unlink(p);
		rmdir(tmp);
	}
	if (rv != 0) {
		SF_WARN("store",
		    "the credentials are sealed with the new key, but "
		    "rewriting %s/data.mdb compacted failed (%s): pages "
		    "sealed "
		    "with the old key may remain in the file",
		    o->so_dir, cst.st_msg);
	}
	sf_status_fini(&cst);
	free(dir);
	return (0);
}
