// diff.c: `svcfleet diff -f FILE` (issue 19) — what apply would change,
// as kubectl diff shows it: each object's stored manifest goes to a LIVE
// directory, the manifest apply would store (svcfleetd's dry run of the
// apply) to a MERGED directory, one file per object, and `diff -u -N LIVE
// MERGED` (or $SVCFLEET_EXTERNAL_DIFF, as KUBECTL_EXTERNAL_DIFF) prints
// the differences. A FleetService brings itself and the Service of each
// cluster it places onto (or prunes from). Exit code 0: no differences,
// 1: differences, 2 and more: an error (diff's own code when it failed).
//
// --server-side (i19-ssd): LIVE is the object each target cluster holds
// and MERGED what its API server answers to a dry run (dryRun=All) of the
// apply the reconciler would send, so the defaults and changes the
// cluster makes show too. A cluster that cannot answer (unreachable,
// refusing the apply) gets a line of its own and the exit code 2.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"

#define DIFF_EXIT_ERROR 2
#define DIFF_FILES_MAX  4096

typedef struct diff_run {
	cli   *dr_cli;
	bool   dr_server_side; // i19-ssd
	char   dr_live[512];
	char   dr_merged[512];
	char **dr_files; // names written in both directories
	size_t dr_nfiles;
	int    dr_failed;
	bool   dr_stop;
} diff_run;

// The manifest as diffed: desired state only — no status, no svcfleet.io
// facts that only the stored copy has (they would differ on every object).
static json_t *
clean(json_t *m)
{
	static const char *const facts[]
	    = {SF_ANN_SYNC_STATE, SF_ANN_SYNC_MESSAGE, SF_ANN_RESOURCE_VERSION,
	        SF_ANN_CLUSTER_IP, SF_ANN_NODE_PORTS};
	json_t *md, *ann;

	if (m == NULL) {
		return (NULL);
	}
	json_object_del(m, "status");
	md = json_object_get(m, "metadata");
	json_object_del(md, "creationTimestamp");
	json_object_del(md, "generation");
	json_object_del(md, "resourceVersion");
	ann = json_object_get(md, "annotations");
	for (size_t i = 0; i < sizeof(facts) / sizeof(*facts); i++) {
		json_object_del(ann, facts[i]);
	}
	if (ann != NULL && json_object_size(ann) == 0) {
		json_object_del(md, "annotations");
	}
	return (m);
}

// put writes obj (consumed; NULL: the object does not exist there, no
// file) as YAML to dir/name.
static int
put(const char *dir, const char *name, json_t *obj)
{
	char   path[1024];
	sf_buf y = SF_BUF_INIT;
	FILE  *f;
	int    rv = 0;

	if (obj == NULL) {
		return (0);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (sf_model_json_to_yaml(obj, &y) != 0 || y.b_oom
	    || (f = fopen(path, "w")) == NULL) {
		rv = sf__cli_fail(
		    SF_INTERNAL, "cannot write %s: %s", path, strerror(errno));
	} else {
		if (fwrite(y.b_data, 1, y.b_len, f) != y.b_len) {
			rv = -1;
		}
		if (fclose(f) != 0 || rv != 0) {
			rv = sf__cli_fail(
			    SF_INTERNAL, "cannot write %s", path);
		}
	}
	sf_buf_fini(&y);
	json_decref(obj);
	return (rv);
}

// pair writes one object's LIVE and MERGED copies (each consumed, NULL:
// absent) under name.
static int
pair(diff_run *r, const char *name, json_t *live, json_t *merged)
{
	char *n;

	if (r->dr_nfiles >= DIFF_FILES_MAX) {
		json_decref(live);
		json_decref(merged);
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED,
		    "more than %d objects to diff", DIFF_FILES_MAX));
	}
	// A name a file can carry: no '/' (names are DNS labels, clusters
	// too, so this only guards against a damaged answer).
	n = sf_arena_printf(&r->dr_cli->c_arena, "%s", name);
	for (char *p = n; p != NULL && *p != '\0'; p++) {
		if (*p == '/') {
			*p = '_';
		}
	}
	char **grown
	    = realloc(r->dr_files, (r->dr_nfiles + 1) * sizeof(*grown));
	if (n == NULL || grown == NULL) {
		json_decref(live);
		json_decref(merged);
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	r->dr_files                 = grown;
	r->dr_files[r->dr_nfiles++] = n;
	if (put(r->dr_live, n, live) != 0) {
		json_decref(merged);
		return (-1);
	}
	return (put(r->dr_merged, n, merged));
}

// The stored Service, or NULL (*err set when the read failed otherwise
// than NOT_FOUND).
static json_t *
live_service(diff_run *r, const char *cluster, const char *ns,
    const char *name, bool *err)
{
	cli                            *c = r->dr_cli;
	Svcfleet__V1__GetServiceRequest req
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ServiceKey key = SVCFLEET__V1__SERVICE_KEY__INIT;
	Svcfleet__V1__Service   *svc = NULL;
	json_t                  *m;

	*err           = false;
	key.cluster    = (char *) cluster;
	key.namespace_ = (char *) ns;
	key.name       = (char *) name;
	req.key        = &key;
	if (svcfleet_get_service(c->c_client, &req, &svc, &c->c_st) != 0) {
		if (c->c_st.code != SVCFLEET_NOT_FOUND) {
			sf__cli_fail_status(&c->c_st, NULL);
			*err = true;
		}
		return (NULL);
	}
	m = clean(sf_model_service_to_manifest(svc));
	svcfleet_free(svc);
	return (m);
}

static bool
fatal_code(int code)
{
	return (code == SVCFLEET_UNAVAILABLE || code == SVCFLEET_CANCELLED
	    || code == SVCFLEET_UNAUTHENTICATED);
}

// i19-ssd: a cluster's object as diffed: what the cluster holds, less
// what kubectl diff leaves out too (managedFields) and the server's
// bookkeeping that a dry run need not repeat (resourceVersion).
static json_t *
clean_cluster(const char *text)
{
	json_t *m, *md;

	if (text == NULL || text[0] == '\0'
	    || (m = json_loads(text, 0, NULL)) == NULL) {
		return (NULL);
	}
	md = json_object_get(m, "metadata");
	json_object_del(md, "managedFields");
	json_object_del(md, "resourceVersion");
	return (m);
}

// i19-ssd: one cluster's server-side dry run: its LIVE and MERGED files,
// or a line saying why it has none (an error: exit 2).
static void
server_side_pair(
    diff_run *r, const Svcfleet__V1__ServerDryRun *d, const char *where)
{
	char name[600];

	snprintf(name, sizeof(name), "v1.Service.%s.%s.%s", sf_nz(d->cluster),
	    sf_nz(d->namespace_), sf_nz(d->name));
	if (d->code < 200 || d->code > 299) {
		printf("# cluster %s: v1.Service %s/%s: ", sf_nz(d->cluster),
		    sf_nz(d->namespace_), sf_nz(d->name));
		if (d->code == 0) {
			printf(
			    "no server-side dry run: %s\n", sf_nz(d->message));
		} else {
			printf("the API server refused the dry run (HTTP %d): "
			       "%s\n",
			    d->code, sf_nz(d->message));
		}
		sf__cli_fail(
		    d->code == 0 ? SF_UNAVAILABLE : SF_FAILED_PRECONDITION,
		    "%scluster \"%s\": %s", where, sf_nz(d->cluster),
		    sf_nz(d->message));
		r->dr_failed++;
		return;
	}
	if (pair(r, name, clean_cluster(d->live), clean_cluster(d->dry_run))
	    != 0) {
		r->dr_failed++;
	}
}

static void
diff_service(diff_run *r, const json_t *obj, const char *where)
{
	cli                              *c = r->dr_cli;
	Svcfleet__V1__ApplyServiceRequest req
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *rep = NULL;
	sf_service                      *svc = NULL;
	sf_status                        st;
	json_t                          *live;
	bool                             err;
	char                             name[600];

	sf_status_init(&st);
	if (sf_model_service_from_manifest(
	        obj, sf__cli_value(c, F_CLUSTER, NULL), &c->c_arena, &svc, &st)
	    != 0) {
		sf__cli_fail_sf(&st, where);
		sf_status_fini(&st);
		r->dr_failed++;
		return;
	}
	sf_status_fini(&st);
	const sf_object_meta *m = svc->metadata;
	live = live_service(r, m->cluster, m->namespace_, m->name, &err);
	if (err) {
		r->dr_failed++;
		r->dr_stop = fatal_code(c->c_st.code);
		return;
	}
	req.service     = svc;
	req.dry_run     = true;
	req.server_side = r->dr_server_side;
	if (svcfleet_apply_service(c->c_client, &req, &rep, &c->c_st) != 0) {
		sf__cli_fail_status(&c->c_st, where);
		json_decref(live);
		r->dr_failed++;
		r->dr_stop = fatal_code(c->c_st.code);
		return;
	}
	if (r->dr_server_side) {
		json_decref(live);
		for (size_t i = 0; i < rep->n_server_dry_runs; i++) {
			server_side_pair(r, rep->server_dry_runs[i], where);
		}
		svcfleet_free(rep);
		return;
	}
	snprintf(name, sizeof(name), "v1.Service.%s.%s.%s", m->cluster,
	    m->namespace_, m->name);
	if (pair(r, name, live,
	        rep->service != NULL
	            ? clean(sf_model_service_to_manifest(rep->service))
	            : NULL)
	    != 0) {
		r->dr_failed++;
	}
	svcfleet_free(rep);
}

static json_t *
clean_fleet(json_t *m)
{
	if (m != NULL) {
		json_t *md = json_object_get(m, "metadata");
		json_object_del(m, "status");
		json_object_del(md, "creationTimestamp");
		json_object_del(md, "generation");
		json_object_del(md, "resourceVersion");
	}
	return (m);
}

static void
diff_fleet(diff_run *r, const json_t *obj, const char *where)
{
	cli                                   *c = r->dr_cli;
	Svcfleet__V1__ApplyFleetServiceRequest req
	    = SVCFLEET__V1__APPLY_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyFleetServiceReply *rep = NULL;
	Svcfleet__V1__GetFleetServiceRequest  get
	    = SVCFLEET__V1__GET_FLEET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__FleetServiceKey key
	    = SVCFLEET__V1__FLEET_SERVICE_KEY__INIT;
	Svcfleet__V1__FleetService *cur = NULL;
	sf_fleet                   *fs  = NULL;
	sf_status                   st;
	json_t                     *live = NULL;
	char                        name[600];

	sf_status_init(&st);
	if (sf_model_fleet_from_manifest(obj, &c->c_arena, &fs, &st) != 0) {
		sf__cli_fail_sf(&st, where);
		sf_status_fini(&st);
		r->dr_failed++;
		return;
	}
	sf_status_fini(&st);
	key.namespace_ = fs->metadata->namespace_;
	key.name       = fs->metadata->name;
	get.key        = &key;
	if (svcfleet_get_fleet_service(c->c_client, &get, &cur, &c->c_st)
	    == 0) {
		live = clean_fleet(sf_model_fleet_to_manifest(cur));
		svcfleet_free(cur);
	} else if (c->c_st.code != SVCFLEET_NOT_FOUND) {
		sf__cli_fail_status(&c->c_st, where);
		r->dr_failed++;
		r->dr_stop = fatal_code(c->c_st.code);
		return;
	}
	req.fleet_service = fs;
	req.dry_run       = true;
	req.server_side   = r->dr_server_side;
	if (svcfleet_apply_fleet_service(c->c_client, &req, &rep, &c->c_st)
	    != 0) {
		sf__cli_fail_status(&c->c_st, where);
		json_decref(live);
		r->dr_failed++;
		r->dr_stop = fatal_code(c->c_st.code);
		return;
	}
	snprintf(name, sizeof(name), "svcfleet.io.v1.FleetService.%s.%s",
	    sf_nz(key.namespace_), sf_nz(key.name));
	if (pair(r, name, live,
	        rep->fleet_service != NULL ? clean_fleet(
	            sf_model_fleet_to_manifest(rep->fleet_service))
	                                   : NULL)
	    != 0) {
		r->dr_failed++;
	}
	// Each cluster's copy: what is stored there now against what the
	// apply renders (nothing for a prune; a skipped cluster keeps its
	// copy).
	for (size_t i = 0; i < rep->n_rendered; i++) {
		const Svcfleet__V1__FleetRendered *rd = rep->rendered[i];
		bool                               err;
		if (rd->server_dry_run != NULL) {
			// i19-ssd: the cluster's own object and dry run.
			server_side_pair(r, rd->server_dry_run, where);
			continue;
		}
		json_t *l = live_service(
		    r, rd->cluster, key.namespace_, key.name, &err);
		json_t *mg;
		if (err) {
			r->dr_failed++;
			continue;
		}
		if (strcmp(sf_nz(rd->action), "prune") == 0) {
			mg = NULL;
		} else if (rd->service != NULL) {
			mg = clean(sf_model_service_to_manifest(rd->service));
		} else {
			mg = l != NULL ? json_deep_copy(l) : NULL;
		}
		snprintf(name, sizeof(name), "v1.Service.%s.%s.%s",
		    sf_nz(rd->cluster), sf_nz(key.namespace_),
		    sf_nz(key.name));
		if (pair(r, name, l, mg) != 0) {
			r->dr_failed++;
		}
	}
	svcfleet_free(rep);
}

static void
diff_file(diff_run *r, const char *path)
{
	cli            *c    = r->dr_cli;
	const char     *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	sf_manifest_set set  = {NULL, 0};

	if (sf__cli_manifest_load(path, &set) != 0) {
		r->dr_failed++;
	} else {
		for (size_t d = 0; d < set.ms_ndocs && !r->dr_stop; d++) {
			const sf_manifest_doc *doc = &set.ms_docs[d];
			char                  *where;
			if (doc->md_obj == NULL) {
				continue;
			}
			where = sf_arena_printf(&c->c_arena,
			    "%s: document %d (line %d): ", name, doc->md_index,
			    doc->md_line);
			if (sf_model_fleet_is_manifest(doc->md_obj)) {
				diff_fleet(r, doc->md_obj, where);
			} else {
				diff_service(r, doc->md_obj, where);
			}
		}
	}
	sf_manifest_set_fini(&set);
}

// Runs the diff program on the two directories; its output goes to
// ours. Returns its exit code, or DIFF_EXIT_ERROR when it could not run.
static int
run_diff(diff_run *r)
{
	const char *ext   = getenv("SVCFLEET_EXTERNAL_DIFF");
	char       *words = NULL, *save = NULL;
	const char *argv[20];
	size_t      n = 0;
	int         status;
	pid_t       pid;

	if (ext != NULL && ext[0] != '\0') {
		// Split on blanks, as kubectl splits KUBECTL_EXTERNAL_DIFF.
		if ((words = strdup(ext)) == NULL) {
			return (DIFF_EXIT_ERROR);
		}
		for (char *w                = strtok_r(words, " \t", &save);
		     w != NULL && n < 16; w = strtok_r(NULL, " \t", &save)) {
			argv[n++] = w;
		}
	}
	if (n == 0) {
		argv[n++] = "diff";
		argv[n++] = "-u";
		argv[n++] = "-N";
	}
	argv[n++] = r->dr_live;
	argv[n++] = r->dr_merged;
	argv[n]   = NULL;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		free(words);
		sf__cli_fail(SF_INTERNAL, "cannot run %s: %s", argv[0],
		    strerror(errno));
		return (DIFF_EXIT_ERROR);
	}
	if (pid == 0) {
		execvp(argv[0], (char *const *) argv);
		fprintf(stderr, "error: INTERNAL: cannot run %s: %s\n",
		    argv[0], strerror(errno));
		_exit(127);
	}
	free(words);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return (DIFF_EXIT_ERROR);
		}
	}
	if (!WIFEXITED(status)) {
		return (DIFF_EXIT_ERROR);
	}
	return (WEXITSTATUS(status));
}

static void
remove_dir(diff_run *r, const char *dir)
{
	char path[1024];

	for (size_t i = 0; i < r->dr_nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, r->dr_files[i]);
		(void) unlink(path);
	}
	(void) rmdir(dir);
}

int
sf__cli_cmd_diff(cli *c)
{
	const cli_list *files = &c->c_list[F_FILENAME];
	const char     *tmp   = getenv("TMPDIR");
	diff_run        r;
	int             rv;

	memset(&r, 0, sizeof(r));
	r.dr_cli         = c;
	r.dr_server_side = sf__cli_flag(c, F_SERVER_SIDE);
	if ((rv = sf__cli_connect(c)) != 0) {
		return (DIFF_EXIT_ERROR);
	}
	tmp = tmp != NULL && tmp[0] != '\0' ? tmp : P_tmpdir;
	snprintf(r.dr_live, sizeof(r.dr_live), "%s/LIVE-XXXXXX", tmp);
	snprintf(r.dr_merged, sizeof(r.dr_merged), "%s/MERGED-XXXXXX", tmp);
	if (mkdtemp(r.dr_live) == NULL) {
		sf__cli_fail(SF_INTERNAL,
		    "cannot make a temporary directory: %s", strerror(errno));
		return (DIFF_EXIT_ERROR);
	}
	if (mkdtemp(r.dr_merged) == NULL) {
		sf__cli_fail(SF_INTERNAL,
		    "cannot make a temporary directory: %s", strerror(errno));
		(void) rmdir(r.dr_live);
		return (DIFF_EXIT_ERROR);
	}
	for (size_t i = 0; i < files->l_n && !r.dr_stop; i++) {
		diff_file(&r, files->l_v[i]);
	}
	rv = run_diff(&r);
	remove_dir(&r, r.dr_live);
	remove_dir(&r, r.dr_merged);
	free(r.dr_files);
	if (rv > 1) {
		if (rv != DIFF_EXIT_ERROR) {
			sf__cli_fail(SF_INTERNAL,
			    "the diff program exited with %d", rv);
		}
		return (rv);
	}
	return (r.dr_failed > 0 ? DIFF_EXIT_ERROR : rv);
}
