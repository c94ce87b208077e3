// kf_persist.c: --state-dir persistence. After a change, a writer thread
// waits a little (to batch bursts), takes references to every stored
// object under the lock, then writes state.json.tmp without it, fsyncs and
// renames it over state.json. Objects keep their resourceVersions and the
// counter is saved, so a restart continues where it stopped.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kf.h"
#include "log.h"

#define DEBOUNCE_MS 150

static pthread_t pthr;
static bool      prunning;
static bool      pstop; // under st_mu

void
kf_persist_kick(void)
{
	if (kf_st.st_opts.o_state_dir == NULL) {
		return;
	}
	kf_st.st_dirty = true;
	pthread_cond_signal(&kf_st.st_pcond);
}

typedef struct snap {
	kf_obj **s_v[KF_R_COUNT];
	size_t   s_n[KF_R_COUNT];
	size_t   s_cap;
	int      s_res;
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

static void
save(void)
{
	snap     s;
	uint64_t rv;
	memset(&s, 0, sizeof(s));
	pthread_mutex_lock(&kf_st.st_mu);
	kf_st.st_dirty = false;
	rv             = kf_st.st_rv;
	for (int r = 0; r < KF_R_COUNT; r++) {
		size_t n = kf_tree_count(kf_st.st_objs[r]);
		s.s_v[r] = calloc(n + 1, sizeof(kf_obj *));
		s.s_res  = r;
		kf_tree_walk(kf_st.st_objs[r], NULL, NULL, snap_cb, &s);
	}
	pthread_mutex_unlock(&kf_st.st_mu);

	char path[4096], tmp[4096];
	snprintf(
	    path, sizeof(path), "%s/state.json", kf_st.st_opts.o_state_dir);
	snprintf(
	    tmp, sizeof(tmp), "%s/state.json.tmp", kf_st.st_opts.o_state_dir);
	sf_buf b = SF_BUF_INIT;
	sf_buf_printf(&b, "{\"resourceVersion\":%llu,\"objects\":{",
	    (unsigned long long) rv);
	for (int r = 0; r < KF_R_COUNT; r++) {
		sf_buf_printf(
		    &b, "%s\"%s\":[", r ? "," : "", kf_resources[r].rs_name);
		for (size_t i = 0; i < s.s_n[r]; i++) {
			if (i) {
				sf_buf_putc(&b, ',');
			}
			sf_buf_put(
			    &b, s.s_v[r][i]->o_text, s.s_v[r][i]->o_len);
			sf_buf_putc(&b, '\n');
			kf_obj_unref(s.s_v[r][i]);
		}
		sf_buf_putc(&b, ']');
		free(s.s_v[r]);
	}
	sf_buf_puts(&b, "}}\n");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, b.b_data, b.b_len) != 0 || fsync(fd) != 0
	    || close(fd) != 0 || rename(tmp, path) != 0) {
		SF_WARN(
		    "kubefake", "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
	}
	sf_buf_fini(&b);
}

static void *
persist_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&kf_st.st_mu);
	for (;;) {
		while (!kf_st.st_dirty && !pstop) {
			pthread_cond_wait(&kf_st.st_pcond, &kf_st.st_mu);
		}
		if (pstop) {
			break;
		}
		pthread_mutex_unlock(&kf_st.st_mu);
		struct timespec ts = {0, DEBOUNCE_MS * 1000000L};
		nanosleep(&ts, NULL);
		save();
		pthread_mutex_lock(&kf_st.st_mu);
	}
	bool dirty = kf_st.st_dirty;
	pthread_mutex_unlock(&kf_st.st_mu);
	if (dirty) {
		save();
	}
	return NULL;
}

void
kf_persist_start(void)
{
	if (kf_st.st_opts.o_state_dir == NULL) {
		return;
	}
	if (pthread_create(&pthr, NULL, persist_main, NULL) == 0) {
		prunning = true;
	}
}

void
kf_persist_stop(void)
{
	if (!prunning) {
		return;
	}
	pthread_mutex_lock(&kf_st.st_mu);
	pstop = true;
	pthread_cond_broadcast(&kf_st.st_pcond);
	pthread_mutex_unlock(&kf_st.st_mu);
	pthread_join(pthr, NULL);
	prunning = false;
}

int
kf_persist_load(void)
{
	const char *dir = kf_st.st_opts.o_state_dir;
	if (dir == NULL) {
		return 0;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (access(path, F_OK) != 0) {
		return 0;
	}
	json_error_t je;
	json_t      *j = json_load_file(path, 0, &je);
	if (j == NULL) {
		SF_ERROR("kubefake", "cannot load %s: line %d: %s", path,
		    je.line, je.text);
		return -1;
	}
	json_t *objs  = json_object_get(j, "objects");
	size_t  total = 0;
	for (int r = 0; r < KF_R_COUNT; r++) {
		json_t *arr = json_object_get(objs, kf_resources[r].rs_name);
		size_t  i;
		json_t *o;
		json_array_foreach(arr, i, o)
		{
			char        key[512];
			const char *rvs
			    = kf_jstr(o, "metadata.resourceVersion");
			kf_key(r, kf_jstr(o, "metadata.namespace"),
			    kf_jstr(o, "metadata.name"), key, sizeof(key));
			kf_obj *ko = kf_obj_new(
			    json_incref(o), rvs ? strtoull(rvs, NULL, 10) : 0);
			kf_obj_unref(kf_tree_put(kf_st.st_objs[r], key, ko));
			if (r == KF_R_SERVICES) {
				kf_service_reserve(o);
				kf_metallb_reserve(key, o);
			}
			total++;
		}
	}
	kf_st.st_rv = (uint64_t) json_integer_value(
	    json_object_get(j, "resourceVersion"));
	kf_st.st_hfirst = kf_st.st_rv + 1;
	json_decref(j);
	SF_INFO("kubefake",
	    "loaded %zu objects from %s (resourceVersion %llu)", total, path,
	    (unsigned long long) kf_st.st_rv);
	return 0;
}
