// kf_persist.c: --state-dir persistence, written through, as etcd is for
// kube-apiserver: a write acknowledged is never lost, and a
// resourceVersion is never handed out twice, even when kubefake is killed.
//
// Every change is appended to state.log by kf_commit, with st_mu held, so
// it is in the file (write(2): the OS has it, and a killed process cannot
// lose it) before any reply or watch event can tell of it, in
// resourceVersion order. The log is not fsynced: a machine crash may lose
// its tail, which a test server can afford.
//
// state.json is a snapshot: every object and the counter at some
// resourceVersion R. Loading reads it, then replays the log entries after
// R, then writes a new snapshot and starts an empty log. While serving, a
// thread compacts the same way once the log has grown: under st_mu it
// takes references to every object and renames state.log to
// state.log.old (a new state.log takes the next changes), then without
// the lock writes state.json.tmp, fsyncs and renames it over state.json,
// and removes state.log.old. A crash at any step leaves files that load
// to the same state.
//
// Log lines: {"rv":N,"resource":"services","type":"put"|"delete",
// "object":{...}}; the object of a delete is its last state.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf.h"
#include "log.h"

// The log is compacted when it outgrows this plus twice the snapshot.
#define LOG_SLACK (1u << 20)

static struct {
	pthread_t thr;
	bool      running;
	bool      stop;   // under st_mu
	bool      broken; // a compaction failed: the log only grows
	int       fd;     // state.log, -1 without --state-dir
	size_t    log_bytes;
	size_t    snap_bytes;
	sf_buf    line; // under st_mu
	char      path[4096], tmp[4096], log[4096], old[4096];
} ps = {.fd = -1};

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t) w;
	}
	return 0;
}

static bool
compact_due(void)
{
	return !ps.broken && ps.log_bytes > LOG_SLACK + 2 * ps.snap_bytes;
}

void
kf_persist_append(int res, const kf_obj *o, int type)
{
	if (ps.fd < 0 || o == NULL || o->o_text == NULL) {
		return;
	}
	sf_buf *b = &ps.line;
	sf_buf_reset(b);
	sf_buf_printf(b, "{\"rv\":%llu,\"resource\":\"%s\",\"type\":\"%s\",",
	    (unsigned long long) o->o_rv, kf_resources[res].rs_name,
	    type == KF_EV_DELETED ? "delete" : "put");
	sf_buf_puts(b, "\"object\":");
	sf_buf_put(b, o->o_text, o->o_len);
	sf_buf_puts(b, "}\n");
	if (b->b_oom || write_all(ps.fd, b->b_data, b->b_len) != 0) {
		SF_ERROR("kubefake", "cannot append to %s: %s", ps.log,
		    b->b_oom ? "out of memory" : strerror(errno));
		return;
	}
	ps.log_bytes += b->b_len;
	if (compact_due()) {
		pthread_cond_signal(&kf_st.st_pcond);
	}
}

// ---- snapshots -------------------------------------------------------------

typedef struct snap {
	kf_obj **s_v[KF_R_COUNT];
	size_t   s_n[KF_R_COUNT];
	int      s_res;
	uint64_t s_rv;
} snap;

static int
snap_cb(void *arg, const char *key, void *val)
{
	snap *s = arg;
	(void) key;
	int r                  = s->s_res;
	s->s_v[r][s->s_n[r]++] = kf_obj_ref(val);
	return 0;
}

// snap_take references every object (st_mu held, or before serving).
static int
snap_take(snap *s)
{
	memset(s, 0, sizeof(*s));
	s->s_rv = kf_st.st_rv;
	for (int r = 0; r < KF_R_COUNT; r++) {
		size_t n  = kf_tree_count(kf_st.st_objs[r]);
		s->s_v[r] = calloc(n + 1, sizeof(kf_obj *));
		if (s->s_v[r] == NULL) {
			return -1;
		}
		s->s_res = r;
		kf_tree_walk(kf_st.st_objs[r], NULL, NULL, snap_cb, s);
	}
	return 0;
}

static void
snap_release(snap *s)
{
	for (int r = 0; r < KF_R_COUNT; r++) {
		for (size_t i = 0; i < s->s_n[r]; i++) {
			kf_obj_unref(s->s_v[r][i]);
		}
		free(s->s_v[r]);
	}
	memset(s, 0, sizeof(*s));
}

// snap_write makes s state.json (tmp, fsync, rename) and releases it.
static int
snap_write(snap *s, size_t *bytes)
{
	sf_buf b = SF_BUF_INIT;
	sf_buf_printf(&b, "{\"resourceVersion\":%llu,\"objects\":{",
	    (unsigned long long) s->s_rv);
	for (int r = 0; r < KF_R_COUNT; r++) {
		sf_buf_printf(
		    &b, "%s\"%s\":[", r ? "," : "", kf_resources[r].rs_name);
		for (size_t i = 0; i < s->s_n[r]; i++) {
			if (i) {
				sf_buf_putc(&b, ',');
			}
			sf_buf_put(
			    &b, s->s_v[r][i]->o_text, s->s_v[r][i]->o_len);
			sf_buf_putc(&b, '\n');
		}
		sf_buf_putc(&b, ']');
	}
	sf_buf_puts(&b, "}}\n");
	snap_release(s);
	int fd = b.b_oom
	    ? -1
	    : open(ps.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rv = -1;
	if (fd >= 0 && write_all(fd, b.b_data, b.b_len) == 0
	    && fsync(fd) == 0) {
		rv = close(fd);
		fd = -1;
		if (rv == 0) {
			rv = rename(ps.tmp, ps.path);
		}
	}
	if (rv != 0) {
		SF_ERROR("kubefake", "cannot write %s: %s", ps.path,
		    b.b_oom ? "out of memory" : strerror(errno));
	}
	if (fd >= 0) {
		close(fd);
	}
	*bytes = b.b_len;
	sf_buf_fini(&b);
	return rv;
}

// ---- compaction
// --------------------------------------------------------------

// rotate moves state.log aside and starts a new one (st_mu held).
static int
rotate(void)
{
	if (access(ps.old, F_OK) == 0) {
		// What a failed compaction left is not in any snapshot.
		return -1;
	}
	if (rename(ps.log, ps.old) != 0) {
		return -1;
	}
	int fd = open(
	    ps.log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		rename(ps.old, ps.log);
		return -1;
	}
	close(ps.fd);
	ps.fd        = fd;
	ps.log_bytes = 0;
	return 0;
}

static void *
persist_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&kf_st.st_mu);
	for (;;) {
		while (!ps.stop && !compact_due()) {
			pthread_cond_wait(&kf_st.st_pcond, &kf_st.st_mu);
		}
		if (ps.stop) {
			break;
		}
		snap s;
		if (snap_take(&s) != 0 || rotate() != 0) {
			snap_release(&s);
			ps.broken = true;
			SF_ERROR("kubefake",
			    "cannot compact %s (%s): it keeps growing", ps.log,
			    strerror(errno));
			continue;
		}
		pthread_mutex_unlock(&kf_st.st_mu);
		size_t bytes;
		int    rv = snap_write(&s, &bytes);
		if (rv == 0) {
			unlink(ps.old);
		}
		pthread_mutex_lock(&kf_st.st_mu);
		if (rv == 0) {
			ps.snap_bytes = bytes;
		} else {
			ps.broken = true;
		}
	}
	pthread_mutex_unlock(&kf_st.st_mu);
	return NULL;
}

void
kf_persist_start(void)
{
	if (ps.fd < 0) {
		return;
	}
	if (pthread_create(&ps.thr, NULL, persist_main, NULL) == 0) {
		ps.running = true;
	}
}

void
kf_persist_stop(void)
{
	if (ps.running) {
		pthread_mutex_lock(&kf_st.st_mu);
		ps.stop = true;
		pthread_cond_broadcast(&kf_st.st_pcond);
		pthread_mutex_unlock(&kf_st.st_mu);
		pthread_join(ps.thr, NULL);
		ps.running = false;
	}
	if (ps.fd >= 0) {
		close(ps.fd);
		ps.fd = -1;
	}
	sf_buf_fini(&ps.line);
}

// ---- loading -------------------------------------------------------------

static int
res_by_name(const char *name)
{
	for (int r = 0; name && r < KF_R_COUNT; r++) {
		if (strcmp(kf_resources[r].rs_name, name) == 0) {
			return r;
		}
	}
	return -1;
}

// put stores o (a reference taken) as resource r's object at rv.
static void
put(int r, json_t *o, uint64_t rv)
{
	char key[512];
	kf_key(r, kf_jstr(o, "metadata.namespace"),
	    kf_jstr(o, "metadata.name"), key, sizeof(key));
	kf_obj *ko = kf_obj_new(json_incref(o), rv);
	if (ko != NULL) {
		kf_obj_unref(kf_tree_put(kf_st.st_objs[r], key, ko));
	}
}

static void
del(int r, json_t *o)
{
	char key[512];
	kf_key(r, kf_jstr(o, "metadata.namespace"),
	    kf_jstr(o, "metadata.name"), key, sizeof(key));
	kf_obj_unref(kf_tree_del(kf_st.st_objs[r], key));
}

static int
load_snapshot(size_t *total)
{
	if (access(ps.path, F_OK) != 0) {
		return 0;
	}
	json_error_t je;
	json_t      *j = json_load_file(ps.path, 0, &je);
	if (j == NULL) {
		SF_ERROR("kubefake", "cannot load %s: line %d: %s", ps.path,
		    je.line, je.text);
		return -1;
	}
	json_t *objs = json_object_get(j, "objects");
	for (int r = 0; r < KF_R_COUNT; r++) {
		json_t *arr = json_object_get(objs, kf_resources[r].rs_name);
		size_t  i;
		json_t *o;
		json_array_foreach(arr, i, o)
		{
			const char *rvs
			    = kf_jstr(o, "metadata.resourceVersion");
			put(r, o, rvs ? strtoull(rvs, NULL, 10) : 0);
			(*total)++;
		}
	}
	kf_st.st_rv = (uint64_t) json_integer_value(
	    json_object_get(j, "resourceVersion"));
	json_decref(j);
	return 0;
}

// replay applies the entries of log file path after the snapshot's
// version. A last line without its newline was cut short by a crash in
// the middle of the write that would have stored it: it never was
// acknowledged, and is ignored.
static int
replay(const char *path, uint64_t after, size_t *applied)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return errno == ENOENT ? 0 : -1;
	}
	char   *line = NULL;
	size_t  cap  = 0;
	ssize_t n;
	int     rv = 0;
	for (int lineno = 1; rv == 0 && (n = getline(&line, &cap, f)) > 0;
	     lineno++) {
		if (line[n - 1] != '\n') {
			SF_WARN("kubefake",
			    "%s:%d: a cut-off last line, ignored", path,
			    lineno);
			break;
		}
		json_error_t je;
		json_t      *e = json_loadb(line, (size_t) n, 0, &je);
		json_t      *o = json_object_get(e, "object");
		int          r = res_by_name(
		             json_string_value(json_object_get(e, "resource")));
		const char *type
		    = json_string_value(json_object_get(e, "type"));
		uint64_t erv
		    = (uint64_t) json_integer_value(json_object_get(e, "rv"));
		if (!json_is_object(o) || r < 0 || type == NULL || erv == 0) {
			SF_ERROR("kubefake", "%s:%d: not a log entry", path,
			    lineno);
			rv = -1;
		} else if (erv <= after) {
			// In the snapshot already.
		} else if (erv <= kf_st.st_rv) {
			SF_ERROR("kubefake",
			    "%s:%d: resourceVersion %llu after %llu", path,
			    lineno, (unsigned long long) erv,
			    (unsigned long long) kf_st.st_rv);
			rv = -1;
		} else {
			if (strcmp(type, "delete") == 0) {
				del(r, o);
			} else {
				put(r, o, erv);
			}
			kf_st.st_rv = erv;
			(*applied)++;
		}
		json_decref(e);
	}
	if (rv == 0 && ferror(f)) {
		rv = -1;
	}
	free(line);
	fclose(f);
	return rv;
}

static int
reserve_cb(void *arg, const char *key, void *val)
{
	(void) arg;
	kf_obj *o = val;
	kf_service_reserve(o->o_json);
	kf_metallb_reserve(key, o->o_json);
	return 0;
}

static int
load(const char *dir)
{
	snprintf(ps.path, sizeof(ps.path), "%s/state.json", dir);
	snprintf(ps.tmp, sizeof(ps.tmp), "%s/state.json.tmp", dir);
	snprintf(ps.log, sizeof(ps.log), "%s/state.log", dir);
	snprintf(ps.old, sizeof(ps.old), "%s/state.log.old", dir);
	size_t total = 0, applied = 0;
	if (load_snapshot(&total) != 0) {
		return -1;
	}
	uint64_t snap_rv = kf_st.st_rv;
	if (replay(ps.old, snap_rv, &applied) != 0
	    || replay(ps.log, snap_rv, &applied) != 0) {
		SF_ERROR("kubefake", "cannot replay the log in %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	kf_st.st_hfirst = kf_st.st_rv + 1;
	kf_tree_walk(
	    kf_st.st_objs[KF_R_SERVICES], NULL, NULL, reserve_cb, NULL);
	if (total || applied) {
		SF_INFO("kubefake",
		    "loaded %zu objects and %zu changes from %s "
		    "(resourceVersion %llu)",
		    total, applied, dir, (unsigned long long) kf_st.st_rv);
	}
	// Start from a snapshot of what was loaded and an empty log.
	snap s;
	if (snap_take(&s) != 0 || snap_write(&s, &ps.snap_bytes) != 0) {
		snap_release(&s);
		return -1;
	}
	unlink(ps.old);
	ps.fd = open(
	    ps.log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (ps.fd < 0) {
		SF_ERROR(
		    "kubefake", "cannot open %s: %s", ps.log, strerror(errno));
		return -1;
	}
	return 0;
}

int
kf_persist_load(void)
{
	const char *dir = kf_st.st_opts.o_state_dir;
	if (dir == NULL) {
		return 0;
	}
	// MetalLB's timers (scheduled while loading) wait until the state
	// is complete and the log takes their changes.
	pthread_mutex_lock(&kf_st.st_mu);
	int rv = load(dir);
	pthread_mutex_unlock(&kf_st.st_mu);
	return rv;
}
