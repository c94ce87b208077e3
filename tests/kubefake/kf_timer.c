// kf_timer.c: one thread that runs short callbacks at a given time
// (injected latency, watch timeouts and bookmarks, MetalLB's delay).
// Callbacks must not block: they flip flags and resume connections.
//
// Stopping: once kf_timer_stop has begun, kf_timer_add refuses new entries
// (the caller keeps its argument), so the entries left when the thread
// ends are a fixed set; they are popped under the lock and run once each,
// so owners release their references. A callback that re-arms itself
// during the drain is refused and cannot keep it going.
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "kf.h"

typedef struct tentry {
	int64_t     te_when; // monotonic ms
	uint64_t    te_seq;  // FIFO among equal times
	kf_timer_fn te_fn;
	void       *te_arg;
} tentry;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	pthread_t       thr;
	tentry         *heap;
	size_t          n, cap;
	uint64_t        seq;
	bool            stop;
	bool            running;
} tm = {.mu = PTHREAD_MUTEX_INITIALIZER};

static bool
before(const tentry *a, const tentry *b)
{
	return a->te_when < b->te_when
	    || (a->te_when == b->te_when && a->te_seq < b->te_seq);
}

static int
heap_push(tentry e)
{
	if (tm.n == tm.cap) {
		size_t  cap = tm.cap ? tm.cap * 2 : 64;
		tentry *h   = realloc(tm.heap, cap * sizeof(*h));
		if (h == NULL) {
			return -1;
		}
		tm.heap = h;
		tm.cap  = cap;
	}
	size_t i   = tm.n++;
	tm.heap[i] = e;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(&tm.heap[i], &tm.heap[p])) {
			break;
		}
		tentry t   = tm.heap[p];
		tm.heap[p] = tm.heap[i];
		tm.heap[i] = t;
		i          = p;
	}
	return 0;
}

static tentry
heap_pop(void)
{
	tentry top = tm.heap[0];
	tm.heap[0] = tm.heap[--tm.n];
	size_t i   = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < tm.n && before(&tm.heap[l], &tm.heap[m])) {
			m = l;
		}
		if (r < tm.n && before(&tm.heap[r], &tm.heap[m])) {
			m = r;
		}
		if (m == i) {
			break;
		}
		tentry t   = tm.heap[m];
		tm.heap[m] = tm.heap[i];
		tm.heap[i] = t;
		i          = m;
	}
	return top;
}

static void *
timer_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&tm.mu);
	while (!tm.stop) {
		if (tm.n == 0) {
			pthread_cond_wait(&tm.cv, &tm.mu);
			continue;
		}
		int64_t now = sf_clock_mono_ms();
		if (tm.heap[0].te_when > now) {
			// The condition variable uses CLOCK_MONOTONIC.
			int64_t         when = tm.heap[0].te_when;
			struct timespec ts   = {(time_t) (when / 1000),
			      (long) (when % 1000) * 1000000L};
			pthread_cond_timedwait(&tm.cv, &tm.mu, &ts);
			continue;
		}
		tentry e = heap_pop();
		pthread_mutex_unlock(&tm.mu);
		e.te_fn(e.te_arg);
		pthread_mutex_lock(&tm.mu);
	}
	pthread_mutex_unlock(&tm.mu);
	return NULL;
}

int
kf_timer_start(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tm.cv, &ca);
	pthread_condattr_destroy(&ca);
	tm.stop = false;
	if (pthread_create(&tm.thr, NULL, timer_main, NULL) != 0) {
		return -1;
	}
	tm.running = true;
	return 0;
}

void
kf_timer_stop(void)
{
	if (!tm.running) {
		return;
	}
	pthread_mutex_lock(&tm.mu);
	tm.stop = true;
	pthread_cond_signal(&tm.cv);
	pthread_mutex_unlock(&tm.mu);
	pthread_join(tm.thr, NULL);
	tm.running = false;
	// Run what is left so owners release their references. Other
	// threads (HTTP workers) may still call kf_timer_add: it is refused
	// from now on, but the heap is only touched under the lock.
	for (;;) {
		pthread_mutex_lock(&tm.mu);
		if (tm.n == 0) {
			free(tm.heap);
			tm.heap = NULL;
			tm.cap  = 0;
			pthread_mutex_unlock(&tm.mu);
			break;
		}
		tentry e = heap_pop();
		pthread_mutex_unlock(&tm.mu);
		e.te_fn(e.te_arg);
	}
	pthread_cond_destroy(&tm.cv);
}

int
kf_timer_add(int64_t ms, kf_timer_fn fn, void *arg)
{
	int rv = -1;
	pthread_mutex_lock(&tm.mu);
	if (!tm.stop) {
		tentry e = {
		    sf_clock_mono_ms() + (ms > 0 ? ms : 0), tm.seq++, fn, arg};
		rv = heap_push(e);
		pthread_cond_signal(&tm.cv);
	}
	pthread_mutex_unlock(&tm.mu);
	return rv;
}
