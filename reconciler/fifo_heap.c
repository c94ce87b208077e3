// fifo_heap.c: the two containers a worker keeps its objects in besides
// the object table (internal.h): an intrusive FIFO (the dirty queue and
// the queue of objects waiting for a request slot) and a binary min-heap
// of objects by o_next_ms (backoff and retry timers). Neither allocates
// per object: the links live in the object (o_dnext, o_heap).
#include <stdlib.h>

#include "internal.h"

// ------------------------------------------------------------ FIFO

// An object is in at most one of the two queues (dirty, waiting for a
// request slot), linked through o_dnext and marked by flag.
void
sf__recon_fifo_push(sf__recon_fifo *q, sf__recon_obj *o, uint32_t flag)
{
	o->o_flags |= flag;
	o->o_dnext = NULL;
	if (q->f_tail != NULL) {
		q->f_tail->o_dnext = o;
	} else {
		q->f_head = o;
	}
	q->f_tail = o;
}

sf__recon_obj *
sf__recon_fifo_pop(sf__recon_fifo *q, uint32_t flag)
{
	sf__recon_obj *o = q->f_head;
	if (o != NULL) {
		q->f_head = o->o_dnext;
		if (q->f_head == NULL) {
			q->f_tail = NULL;
		}
		o->o_flags &= ~flag;
		o->o_dnext = NULL;
	}
	return (o);
}

// ------------------------------------------------------------ timer heap

static void
heap_swap(sf__recon_heap *h, size_t a, size_t b)
{
	sf__recon_obj *t  = h->h_v[a];
	h->h_v[a]         = h->h_v[b];
	h->h_v[b]         = t;
	h->h_v[a]->o_heap = (uint32_t) a + 1;
	h->h_v[b]->o_heap = (uint32_t) b + 1;
}

static void
heap_up(sf__recon_heap *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h->h_v[p]->o_next_ms <= h->h_v[i]->o_next_ms) {
			break;
		}
		heap_swap(h, i, p);
		i = p;
	}
}

static void
heap_down(sf__recon_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->h_n
		    && h->h_v[l]->o_next_ms < h->h_v[m]->o_next_ms) {
			m = l;
		}
		if (r < h->h_n
		    && h->h_v[r]->o_next_ms < h->h_v[m]->o_next_ms) {
			m = r;
		}
		if (m == i) {
			return;
		}
		heap_swap(h, i, m);
		i = m;
	}
}

void
sf__recon_heap_remove(sf__recon_heap *h, sf__recon_obj *o)
{
	size_t i;
	if (o->o_heap == 0) {
		return;
	}
	i         = o->o_heap - 1;
	o->o_heap = 0;
	h->h_n--;
	if (i == h->h_n) {
		return;
	}
	h->h_v[i]         = h->h_v[h->h_n];
	h->h_v[i]->o_heap = (uint32_t) i + 1;
	heap_down(h, i);
	heap_up(h, i);
}

void
sf__recon_heap_arm(sf__recon_heap *h, sf__recon_obj *o)
{
	if (o->o_heap != 0) {
		size_t i = o->o_heap - 1;
		heap_down(h, i);
		heap_up(h, i);
		return;
	}
	if (h->h_n == h->h_cap) {
		size_t          ncap = h->h_cap ? h->h_cap * 2 : 256;
		sf__recon_obj **nh   = realloc(h->h_v, ncap * sizeof(*nh));
		if (nh == NULL) {
			return; // decided again at the next resync
		}
		h->h_v   = nh;
		h->h_cap = ncap;
	}
	h->h_v[h->h_n] = o;
	o->o_heap      = (uint32_t) ++h->h_n;
	heap_up(h, h->h_n - 1);
}

sf__recon_obj *
sf__recon_heap_first(const sf__recon_heap *h)
{
	return (h->h_n > 0 ? h->h_v[0] : NULL);
}

void
sf__recon_heap_fini(sf__recon_heap *h)
{
	free(h->h_v);
	h->h_v   = NULL;
	h->h_n   = 0;
	h->h_cap = 0;
}
