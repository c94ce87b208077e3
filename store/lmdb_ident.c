// lmdb_ident.c: identity records (tokens, role bindings) and the audit log.
//
//   tokens    id\0 -> packed StoredToken
//   bindings  id\0 -> packed RoleBinding
//   audit     id (u64 BE) -> packed AuditEvent; ids from meta "audit_seq"
//
// Records are few (hundreds) and read whole; the audit log is append-only,
// read newest first, and trimmed by count and age as batches commit.
#include "lmdb_internal.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

static enum sf__store_db
db_of(sf_store_kind kind)
{
	return (kind == SF_STORE_TOKENS    ? SF__DB_TOKENS
	        : kind == SF_STORE_HISTORY ? SF__DB_HISTORY
	        : kind == SF_STORE_FLEET   ? SF__DB_FLEET
	        : kind == SF_STORE_ADDRS   ? SF__DB_ADDRS
	                                   : SF__DB_BINDINGS);
}

static int
unpack_record(const MDB_val *v, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, ProtobufCMessage **out, const char *id)
{
	*out = protobuf_c_message_unpack(desc, alloc, v->mv_size, v->mv_data);
	if (*out == NULL) {
		SF_ERROR("store", "the stored %s \"%s\" cannot be decoded",
		    desc->short_name, id);
		return (SF_DATA_LOSS);
	}
	return (0);
}

int
sf__store_lmdb_record_get(sf_store *s, sf_store_kind kind, const char *id,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage **out)
{
	MDB_txn *txn;
	MDB_val  k, v;
	size_t   kl = 0;
	int      rc, rv;

	*out = NULL;
	if ((rv = sf__store_key_record(id, &kl, NULL)) != 0) {
		return (rv);
	}
	if ((rc = sf__store_read_begin(s, &txn)) != 0) {
		return (sf__store_mdb_code(rc));
	}
	k.mv_size = kl;
	k.mv_data = (void *) id;
	rc        = mdb_get(txn, s->s_dbi[db_of(kind)], &k, &v);
	if (rc == 0) {
		rv = unpack_record(&v, desc, alloc, out, id);
	} else {
		rv = rc == MDB_NOTFOUND ? SF_NOT_FOUND
		                        : sf__store_mdb_code(rc);
	}
	sf__store_read_end(s, txn);
	return (rv);
}

int
sf__store_lmdb_record_list(sf_store *s, sf_store_kind kind,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    ProtobufCMessage ***out, size_t *n)
{
	sf__store_ptrvec pv = {NULL, 0, 0};
	MDB_txn         *txn;
	MDB_cursor      *cur;
	MDB_val          k, v;
	int              rc, rv = 0;

	*out = NULL;
	*n   = 0;
	if ((rc = sf__store_read_begin(s, &txn)) != 0) {
		return (sf__store_mdb_code(rc));
	}
	if ((rc = mdb_cursor_open(txn, s->s_dbi[db_of(kind)], &cur)) != 0) {
		sf__store_read_end(s, txn);
		return (sf__store_mdb_code(rc));
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		ProtobufCMessage *m;
		if ((rv = unpack_record(&v, desc, alloc, &m, k.mv_data)) != 0
		    || (rv = sf__store_ptrvec_push(&pv, m)) != 0) {
			break;
		}
	}
	if (rv == 0 && rc != MDB_NOTFOUND) {
		rv = sf__store_mdb_code(rc);
	}
	mdb_cursor_close(cur);
	sf__store_read_end(s, txn);
	if (rv != 0) {
		sf__store_ptrvec_abort(&pv, alloc);
		return (rv);
	}
	*n   = pv.pv_n;
	*out = (ProtobufCMessage **) sf__store_ptrvec_take(&pv, alloc);
	if (*out == NULL) {
		*n = 0;
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}

int
sf__store_lmdb_txn_record_get(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, ProtobufCMessage **out)
{
	MDB_val k, v;
	size_t  kl = 0;
	int     rc, rv;

	*out = NULL;
	if ((rv = sf__store_key_record(id, &kl, t->t_st)) != 0) {
		return (rv);
	}
	k.mv_size = kl;
	k.mv_data = (void *) id;
	rc        = mdb_get(t->t_mdb, t->t_store->s_dbi[db_of(kind)], &k, &v);
	if (rc == MDB_NOTFOUND) {
		return (SF_NOT_FOUND);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "read a record"));
	}
	if ((rv = unpack_record(&v, desc, alloc, out, id)) != 0) {
		return (sf_status_set(t->t_st, rv,
		    "store: the stored %s \"%s\" cannot be decoded",
		    desc->short_name, id));
	}
	return (0);
}

int
sf__store_lmdb_txn_record_put(sf_store_txn *t, sf_store_kind kind,
    const char *id, const ProtobufCMessage *msg, bool create_only)
{
	MDB_val k, v;
	size_t  kl = 0;
	int     rc, rv;

	if ((rv = sf__store_key_record(id, &kl, t->t_st)) != 0) {
		return (rv);
	}
	k.mv_size = kl;
	k.mv_data = (void *) id;
	v.mv_size = protobuf_c_message_get_packed_size(msg);
	v.mv_data = NULL;
	rc        = mdb_put(t->t_mdb, t->t_store->s_dbi[db_of(kind)], &k, &v,
	           MDB_RESERVE | (create_only ? MDB_NOOVERWRITE : 0));
	if (rc == MDB_KEYEXIST) {
		return (SF_ALREADY_EXISTS);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "write a record"));
	}
	protobuf_c_message_pack(msg, v.mv_data);
	t->t_wrote = true;
	return (0);
}

int
sf__store_lmdb_txn_record_delete(
    sf_store_txn *t, sf_store_kind kind, const char *id)
{
	MDB_val k;
	size_t  kl = 0;
	int     rc, rv;

	if ((rv = sf__store_key_record(id, &kl, t->t_st)) != 0) {
		return (rv);
	}
	k.mv_size = kl;
	k.mv_data = (void *) id;
	rc = mdb_del(t->t_mdb, t->t_store->s_dbi[db_of(kind)], &k, NULL);
	if (rc == MDB_NOTFOUND) {
		return (SF_NOT_FOUND);
	}
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "delete a record"));
	}
	t->t_wrote = true;
	return (0);
}

int
sf__store_lmdb_txn_audit_append(sf_store_txn *t, Svcfleet__V1__AuditEvent *ev)
{
	sf_store *s   = t->t_store;
	uint64_t  seq = 0;
	uint8_t   key[8];
	MDB_val   k = {sizeof(key), key}, v;
	int       rc;

	rc = sf__store_meta_get(s, t->t_mdb, SF__META_AUDIT_SEQ, &seq);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		return (sf__store_txn_fail(t, rc, "read the audit sequence"));
	}
	seq++;
	if ((rc = sf__store_meta_put(s, t->t_mdb, SF__META_AUDIT_SEQ, seq))
	    != 0) {
		return (
		    sf__store_txn_fail(t, rc, "advance the audit sequence"));
	}
	ev->id = seq;
	if (ev->time_ms == 0) {
		ev->time_ms = t->t_now;
	}
	sf__store_be64_put(key, seq);
	v.mv_size = protobuf_c_message_get_packed_size(&ev->base);
	v.mv_data = NULL;
	rc = mdb_put(t->t_mdb, s->s_dbi[SF__DB_AUDIT], &k, &v, MDB_RESERVE);
	if (rc != 0) {
		return (sf__store_txn_fail(t, rc, "append to the audit log"));
	}
	protobuf_c_message_pack(&ev->base, v.mv_data);
	return (0);
}

int
sf__store_trim_audit(sf_store *s, MDB_txn *txn, uint64_t max)
{
	MDB_cursor *cur;
	MDB_stat    ms;
	MDB_val     k, v;
	uint64_t    n           = 0, entries;
	int64_t     oldest_kept = 0;
	int         rc;

	if ((rc = mdb_stat(txn, s->s_dbi[SF__DB_AUDIT], &ms)) != 0) {
		return (rc);
	}
	entries = ms.ms_entries;
	if (entries == 0) {
		return (0);
	}
	oldest_kept = sf_clock_now_ms() - s->s_audit_max_age_ms;
	if ((rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_AUDIT], &cur)) != 0) {
		return (rc);
	}
	while (n < max && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if (entries - n <= s->s_audit_keep) {
			// Within the count: drop it only when too old.
			Svcfleet__V1__AuditEvent *ev
			    = svcfleet__v1__audit_event__unpack(
			        NULL, v.mv_size, v.mv_data);
			// An undecodable record is left for someone to look
			// at.
			bool old = ev != NULL && ev->time_ms < oldest_kept;
			svcfleet__v1__audit_event__free_unpacked(ev, NULL);
			if (!old) {
				break;
			}
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0) {
			break;
		}
		n++;
	}
	mdb_cursor_close(cur);
	return (rc == MDB_NOTFOUND ? 0 : rc);
}

int
sf__store_lmdb_audit_list(sf_store *s, const sf_store_audit_query *q,
    ProtobufCAllocator *alloc, Svcfleet__V1__AuditEvent ***out, size_t *n,
    uint64_t *next)
{
	sf__store_ptrvec pv = {NULL, 0, 0};
	MDB_txn         *txn;
	MDB_cursor      *cur;
	MDB_val          k, v;
	uint8_t          key[8];
	uint32_t         limit   = q->aq_limit;
	uint64_t         scanned = 0, last = 0;
	int              rc, rv            = 0;

	*out  = NULL;
	*n    = 0;
	*next = 0;
	if (limit == 0 || limit > SF__STORE_AUDIT_PAGE) {
		limit = limit == 0 ? 100 : SF__STORE_AUDIT_PAGE;
	}
	if ((rc = sf__store_read_begin(s, &txn)) != 0) {
		return (sf__store_mdb_code(rc));
	}
	if ((rc = mdb_cursor_open(txn, s->s_dbi[SF__DB_AUDIT], &cur)) != 0) {
		sf__store_read_end(s, txn);
		return (sf__store_mdb_code(rc));
	}
	// Newest first: start at the last key below aq_before.
	if (q->aq_before == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	} else {
		sf__store_be64_put(key, q->aq_before);
		k.mv_size = sizeof(key);
		k.mv_data = key;
		rc        = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
		} else if (rc == MDB_NOTFOUND) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		}
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		Svcfleet__V1__AuditEvent *ev;
		last = sf__store_be64_get(k.mv_data);
		if (pv.pv_n >= limit || scanned >= SF__STORE_SCAN_MAX) {
			*next = last + 1;
			break;
		}
		scanned++;
		ev = svcfleet__v1__audit_event__unpack(
		    alloc, v.mv_size, v.mv_data);
		if (ev == NULL) {
			rv = SF_DATA_LOSS;
			break;
		}
		if (q->aq_keep != NULL && !q->aq_keep(q->aq_arg, ev)) {
			if (alloc == NULL) {
				svcfleet__v1__audit_event__free_unpacked(
				    ev, NULL);
			}
			continue;
		}
		if ((rv = sf__store_ptrvec_push(&pv, ev)) != 0) {
			break;
		}
	}
	if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
		rv = sf__store_mdb_code(rc);
	}
	mdb_cursor_close(cur);
	sf__store_read_end(s, txn);
	if (rv != 0) {
		sf__store_ptrvec_abort(&pv, alloc);
		*next = 0;
		return (rv);
	}
	*n   = pv.pv_n;
	*out = (Svcfleet__V1__AuditEvent **) sf__store_ptrvec_take(&pv, alloc);
	if (*out == NULL) {
		*n = 0;
		return (SF_RESOURCE_EXHAUSTED);
	}
	return (0);
}
