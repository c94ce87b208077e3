// objtab.c: the per-cluster object table — open addressing with linear
// probing, keyed by "namespace/name". A slot holds a pointer, so a cluster
// of 100,000 Services costs 1-2 MiB of slots besides the objects.
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

#define TOMB ((rc_obj *) (uintptr_t) 1)

void
rc_obj_free(rc_obj *o)
{
	if (o != NULL) {
		free(o->o_pb);
		free(o->o_facts);
		free(o->o_msg);
		free(o);
	}
}

void
rc_objtab_init(rc_objtab *t)
{
	memset(t, 0, sizeof(*t));
}

void
rc_objtab_fini(rc_objtab *t)
{
	for (size_t i = 0; i < t->t_cap; i++) {
		if (t->t_slots[i] != NULL && t->t_slots[i] != TOMB) {
			rc_obj_free(t->t_slots[i]);
		}
	}
	free(t->t_slots);
	memset(t, 0, sizeof(*t));
}

static size_t
slot_of(const rc_objtab *t, const char *key)
{
	return ((size_t) sf_hash_str(SF_HASH_INIT, key) & (t->t_cap - 1));
}

rc_obj *
rc_objtab_get(rc_objtab *t, const char *key)
{
	if (t->t_cap == 0) {
		return (NULL);
	}
	for (size_t i = slot_of(t, key);; i = (i + 1) & (t->t_cap - 1)) {
		rc_obj *o = t->t_slots[i];
		if (o == NULL) {
			return (NULL);
		}
		if (o != TOMB && strcmp(o->o_key, key) == 0) {
			return (o);
		}
	}
}

static int
grow(rc_objtab *t)
{
	size_t   ncap = t->t_cap == 0 ? 64 : t->t_cap;
	rc_obj **old  = t->t_slots;
	size_t   ocap = t->t_cap;

	// Grow when live entries pass half; rehash in place of tombstones.
	while (t->t_n * 2 >= ncap) {
		ncap *= 2;
	}
	if ((t->t_slots = calloc(ncap, sizeof(rc_obj *))) == NULL) {
		t->t_slots = old;
		return (-1);
	}
	t->t_cap  = ncap;
	t->t_tomb = 0;
	for (size_t i = 0; i < ocap; i++) {
		rc_obj *o = old[i];
		if (o == NULL || o == TOMB) {
			continue;
		}
		size_t j = slot_of(t, o->o_key);
		while (t->t_slots[j] != NULL) {
			j = (j + 1) & (t->t_cap - 1);
		}
		t->t_slots[j] = o;
	}
	free(old);
	return (0);
}

rc_obj *
rc_objtab_add(rc_objtab *t, const char *key)
{
	rc_obj *o = rc_objtab_get(t, key);
	size_t  klen;

	if (o != NULL) {
		return (o);
	}
	if ((t->t_n + t->t_tomb + 1) * 4 >= t->t_cap * 3 && grow(t) != 0) {
		return (NULL);
	}
	klen = strlen(key);
	if ((o = calloc(1, sizeof(*o) + klen + 1)) == NULL) {
		return (NULL);
	}
	memcpy(o->o_key, key, klen + 1);
	for (size_t i = slot_of(t, key);; i = (i + 1) & (t->t_cap - 1)) {
		if (t->t_slots[i] == NULL || t->t_slots[i] == TOMB) {
			if (t->t_slots[i] == TOMB) {
				t->t_tomb--;
			}
			t->t_slots[i] = o;
			t->t_n++;
			return (o);
		}
	}
}

void
rc_objtab_del(rc_objtab *t, rc_obj *o)
{
	for (size_t i = slot_of(t, o->o_key);; i = (i + 1) & (t->t_cap - 1)) {
		if (t->t_slots[i] == o) {
			t->t_slots[i] = TOMB;
			t->t_n--;
			t->t_tomb++;
			rc_obj_free(o);
			return;
		}
		if (t->t_slots[i] == NULL) {
			return; // not in the table: a bug, but do no harm
		}
	}
}

rc_obj *
rc_objtab_next(rc_objtab *t, size_t *i)
{
	while (*i < t->t_cap) {
		rc_obj *o = t->t_slots[(*i)++];
		if (o != NULL && o != TOMB) {
			return (o);
		}
	}
	return (NULL);
}
