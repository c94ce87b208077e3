// fifo_heap_test.c: the worker's object queues (fifo_heap.c) — the FIFO
// keeps order and its flag, and the timer heap gives objects back in the
// order of o_next_ms however they were armed, re-armed and removed, with
// every object's o_heap naming its place.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

#define N 1000

static sf__recon_obj objs[N];

static void
reset(void)
{
	memset(objs, 0, sizeof(objs));
}

static void
test_fifo_order_and_flag(void **state)
{
	sf__recon_fifo q = {0};
	(void) state;
	reset();
	assert_null(sf__recon_fifo_pop(&q, O_DIRTY));
	for (int i = 0; i < 5; i++) {
		sf__recon_fifo_push(&q, &objs[i], O_DIRTY);
		assert_true(objs[i].o_flags & O_DIRTY);
	}
	for (int i = 0; i < 3; i++) {
		sf__recon_obj *o = sf__recon_fifo_pop(&q, O_DIRTY);
		assert_ptr_equal(o, &objs[i]);
		assert_false(o->o_flags & O_DIRTY);
		assert_null(o->o_dnext);
	}
	// Pushed again after the queue ran low: behind the ones left.
	sf__recon_fifo_push(&q, &objs[0], O_WAITING);
	assert_ptr_equal(sf__recon_fifo_pop(&q, O_DIRTY), &objs[3]);
	assert_ptr_equal(sf__recon_fifo_pop(&q, O_DIRTY), &objs[4]);
	assert_ptr_equal(sf__recon_fifo_pop(&q, O_WAITING), &objs[0]);
	assert_false(objs[0].o_flags & O_WAITING);
	assert_null(sf__recon_fifo_pop(&q, O_DIRTY));
	assert_null(q.f_head);
	assert_null(q.f_tail);
}

// Every object in the heap knows its place, and no parent is due after
// its children.
static void
check_heap(const sf__recon_heap *h)
{
	for (size_t i = 0; i < h->h_n; i++) {
		assert_int_equal(h->h_v[i]->o_heap, i + 1);
		if (i > 0) {
			assert_true(h->h_v[(i - 1) / 2]->o_next_ms
			    <= h->h_v[i]->o_next_ms);
		}
	}
}

static void
test_heap_order(void **state)
{
	sf__recon_heap h = {0};
	int64_t        last;
	size_t         n = 0;
	sf__recon_obj *o;
	(void) state;
	reset();
	srand(14);
	assert_null(sf__recon_heap_first(&h));
	for (int i = 0; i < N; i++) {
		objs[i].o_next_ms = rand() % 5000;
		sf__recon_heap_arm(&h, &objs[i]);
	}
	check_heap(&h);
	// Re-armed with a new time, removed, armed twice: each stays once.
	for (int i = 0; i < N; i += 3) {
		objs[i].o_next_ms = rand() % 5000;
		sf__recon_heap_arm(&h, &objs[i]);
		sf__recon_heap_arm(&h, &objs[i]);
	}
	for (int i = 1; i < N; i += 7) {
		sf__recon_heap_remove(&h, &objs[i]);
		assert_int_equal(objs[i].o_heap, 0);
		sf__recon_heap_remove(&h, &objs[i]); // not in: nothing
	}
	check_heap(&h);
	last = -1;
	while ((o = sf__recon_heap_first(&h)) != NULL) {
		assert_true(o->o_next_ms >= last);
		last = o->o_next_ms;
		sf__recon_heap_remove(&h, o);
		check_heap(&h);
		n++;
	}
	assert_int_equal(n, N - (N - 1 + 6) / 7);
	for (int i = 0; i < N; i++) {
		assert_int_equal(objs[i].o_heap, 0);
	}
	sf__recon_heap_fini(&h);
	assert_null(h.h_v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fifo_order_and_flag),
	    cmocka_unit_test(test_heap_order),
	};
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
