// objtab.c: the per-cluster object table — open addressing with linear
// probing, keyed by "namespace/name". A slot holds a pointer, so a cluster
// of 100,000 Services costs 1-2 MiB of slots besides the objects.
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

#define TOMB ((sf__recon_obj *) (uintptr_t) 1)

static void
obj_free(sf__recon_obj *o)
{
	if (o != NULL) {
		free(o->o_pb);
		free(o->o_body);
		free(o->o_facts);
		free(o->o_msg);
		free(o);
	}
}

void
sf__recon_objtab_init(sf__recon_objtab *t)
{
	memset(t, 0, sizeof(*t));
}

void
sf__recon_objtab_fini(sf__recon_objtab *t)
{
	for (size_t i = 0; i < t->t_cap; i++) {
		if (t->t_slots[i] != NULL && t->t_slots[i] != TOMB) {
			obj_free(t->t_slots[i]);
		}
	}
	free(t->t_slots);
	memset(t, 0, sizeof(*t));
}

static size_t
slot_of(const sf__recon_objtab *t, const char *key)
{
	return ((size_t) sf_hash_str(SF_HASH_INIT, key) & (t->t_cap - 1));
}

sf__recon_obj *
sf__recon_objtab_get(sf__recon_objtab *t, const char *key)
{
	if (t->t_cap == 0) {
		return (NULL);
	}
	for (size_t i = slot_of(t, key);; i = (i + 1) & (t->t_cap - 1)) {
		sf__recon_obj *o = t->t_slots[i];
		if (o == NULL) {
			return (NULL);
		}
		if (o != TOMB && strcmp(o->o_key, key) == 0) {
			return (o);
		}
	}
}

static int
grow(sf__recon_objtab *t)
{
	size_t          ncap = t->t_cap == 0 ? 64 : t->t_cap;
	sf__recon_obj **old  = t->t_slots;
	size_t          ocap = t->t_cap;

	// Grow when live entries pass half; rehash in place of tombstones.
	while (t->t_n * 2 >= ncap) {
		ncap *= 2;
	}
	if ((t->t_slots = calloc(ncap, sizeof(sf__recon_obj *))) == NULL) {
		t->t_slots = old;
		return (-1);
	}
	t->t_cap  = ncap;
	t->t_tomb = 0;
	for (size_t i = 0; i < ocap; i++) {
		sf__recon_obj *o = old[i];
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

sf__recon_obj *
sf__recon_objtab_add(sf__recon_objtab *t, const char *key)
{
	sf__recon_obj *o = sf__recon_objtab_get(t, key);
	size_t         klen;

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
sf__recon_objtab_del(sf__recon_objtab *t, sf__recon_obj *o)
{
	for (size_t i = slot_of(t, o->o_key);; i = (i + 1) & (t->t_cap - 1)) {
		if (t->t_slots[i] == o) {
			t->t_slots[i] = TOMB;
			t->t_n--;
			t->t_tomb++;
			obj_free(o);
			return;
		}
		if (t->t_slots[i] == NULL) {
			return; // not in the table: a bug, but do no harm
		}
	}
}

sf__recon_obj *
sf__recon_objtab_next(sf__recon_objtab *t, size_t *i)
{
	while (*i < t->t_cap) {
		sf__recon_obj *o = t->t_slots[(*i)++];
		if (o != NULL && o != TOMB) {
			return (o);
		}
	}
	return (NULL);
}
