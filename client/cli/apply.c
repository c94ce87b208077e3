// apply.c: `svcfleet apply -f FILE|DIR|-` — Kubernetes Service manifests
// in, one ApplyService call per document, kubectl-style lines out.
//
// Like kubectl, a bad document does not stop the others: it is reported
// (file, document, line, and every violation) and the exit code becomes 1
// once everything else was applied. Only a lost connection stops the run,
// since every further call would fail the same way.
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "model.h"

typedef struct apply_run {
	cli   *ar_cli;
	bool   ar_dry;
	int    ar_failed;
	size_t ar_docs;
	bool   ar_stop;
	// Results kept for -o json|yaml, printed as one List at the end.
	Svcfleet__V1__ApplyServiceReply **ar_replies;
	size_t                            ar_nreplies;
} apply_run;

static const char *const action_names[] = {
    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNSPECIFIED] = "applied",
    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CREATED]     = "created",
    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_CONFIGURED]  = "configured",
    [SVCFLEET__V1__APPLY_ACTION__APPLY_ACTION_UNCHANGED]   = "unchanged",
};

static const char *
action_name(int a)
{
	if (a < 0
	    || (size_t) a >= sizeof(action_names) / sizeof(*action_names)) {
		return ("applied");
	}
	return (action_names[a]);
}

// Where a document is, for messages: "web.yaml: document 1 (line 14): ",
// "-: document 0, item 3 (line 40): ". Documents are counted from 0, as the
// manifest parser counts them in syntax errors. The line is the first
// violating field's when there is one, else where the document starts.
static char *
doc_prefix(apply_run *r, const char *file, const sf_manifest_doc *doc,
    const char *field)
{
	int line
	    = field != NULL ? sf_manifest_line_of(doc, field) : doc->md_line;
	char item[32] = "";
	if (doc->md_item >= 0) {
		snprintf(item, sizeof(item), ", item %d", doc->md_item);
	}
	return (sf_arena_printf(&r->ar_cli->c_arena,
	    "%s: document %d%s (line %d): ", file, doc->md_index, item, line));
}

// Failures that will repeat for every further call end the run.
static bool
fatal_code(int code)
{
	return (code == SVCFLEET_UNAVAILABLE || code == SVCFLEET_CANCELLED
	    || code == SVCFLEET_UNAUTHENTICATED);
}

static void
keep_reply(apply_run *r, Svcfleet__V1__ApplyServiceReply *rep)
{
	Svcfleet__V1__ApplyServiceReply **grown
	    = realloc(r->ar_replies, (r->ar_nreplies + 1) * sizeof(*grown));
	if (grown == NULL) {
		svcfleet_free(rep);
		sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory");
		r->ar_failed++;
		return;
	}
	r->ar_replies                   = grown;
	r->ar_replies[r->ar_nreplies++] = rep;
}

// A manifest without a cluster is the one mistake a newcomer cannot
// decode from the field path alone: say where a cluster comes from.
static bool
is_cluster_field(const char *f)
{
	return (f != NULL
	    && (strcmp(f, "metadata.cluster") == 0
	        || strcmp(f, "cluster") == 0));
}

static void
hint_cluster(const cli *c, bool missing, char *msg, size_t cap)
{
	static const char hint[]
	    = " (give --cluster or the " SF_ANN_CLUSTER " annotation)";
	size_t n = strlen(msg);
	if (missing && !c->c_set[F_CLUSTER] && n + sizeof(hint) <= cap) {
		memcpy(msg + n, hint, sizeof(hint));
	}
}

static void
apply_doc(apply_run *r, const char *file, const sf_manifest_doc *doc)
{
	cli                              *c = r->ar_cli;
	Svcfleet__V1__ApplyServiceRequest req
	    = SVCFLEET__V1__APPLY_SERVICE_REQUEST__INIT;
	Svcfleet__V1__ApplyServiceReply *rep = NULL;
	sf_service                      *svc = NULL;
	sf_status                        st;

	if (sf_model_fleet_is_manifest(doc->md_obj)) {
		// FleetService (issue 18): multi-document files mix kinds.
		bool fatal = false;
		if (sf__cli_fleet_apply_doc(c, doc->md_obj, r->ar_dry, false,
		        doc_prefix(r, file, doc, NULL), &fatal)
		    != 0) {
			r->ar_failed++;
			r->ar_stop = fatal;
		}
		return;
	}
	sf_status_init(&st);
	if (sf_model_service_from_manifest(doc->md_obj,
	        sf__cli_value(c, F_CLUSTER, NULL), &c->c_arena, &svc, &st)
	    != 0) {
		bool missing = false;
		for (size_t i = 0; i < st.st_nviol; i++) {
			missing = missing
			    || is_cluster_field(st.st_viol[i].v_field);
		}
		hint_cluster(c, missing, st.st_msg, sizeof(st.st_msg));
		sf__cli_fail_sf(&st,
		    doc_prefix(r, file, doc,
		        st.st_nviol > 0 ? st.st_viol[0].v_field : NULL));
		sf_status_fini(&st);
		r->ar_failed++;
		return;
	}
	sf_status_fini(&st);
	req.service = svc;
	req.dry_run = r->ar_dry;
	if (svcfleet_apply_service(c->c_client, &req, &rep, &c->c_st) != 0) {
		const char *field   = c->c_st.n_violations > 0
		      ? c->c_st.violations[0].field
		      : NULL;
		bool        missing = false;
		if (c->c_st.code == SVCFLEET_ABORTED) {
			field = "metadata.resourceVersion";
		}
		for (size_t i = 0; i < c->c_st.n_violations; i++) {
			missing = missing
			    || is_cluster_field(c->c_st.violations[i].field);
		}
		hint_cluster(
		    c, missing, c->c_st.message, sizeof(c->c_st.message));
		sf__cli_fail_status(&c->c_st, doc_prefix(r, file, doc, field));
		r->ar_failed++;
		r->ar_stop = fatal_code(c->c_st.code);
		return;
	}
	switch (c->c_output) {
	case OUT_JSON:
	case OUT_YAML:
		if (rep->service != NULL) {
			keep_reply(r, rep);
			return;
		}
		break;
	case OUT_NAME:
		sf__cli_print_service_name(svc->metadata->cluster,
		    svc->metadata->namespace_, svc->metadata->name);
		break;
	default:
		printf("service/%s %s%s\n", svc->metadata->name,
		    action_name(rep->action), r->ar_dry ? " (dry run)" : "");
		break;
	}
	svcfleet_free(rep);
}

int
sf__cli_manifest_load(const char *path, sf_manifest_set *set)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	sf_buf      text = SF_BUF_INIT;
	sf_status   st;
	int         rv = 0;

	if (sf__cli_read_file(path, &text) != 0) {
		sf__cli_fail(
		    errno == ENOENT ? SF_NOT_FOUND : SF_INVALID_ARGUMENT,
		    "cannot read %s: %s", name, strerror(errno));
		sf_buf_fini(&text);
		return (-1);
	}
	sf_status_init(&st);
	if (sf_manifest_parse(text.b_data, text.b_len, name, set, &st) != 0) {
		sf__cli_fail_sf(&st, NULL);
		rv = -1;
	}
	sf_status_fini(&st);
	sf_buf_fini(&text);
	return (rv);
}

static void
apply_file(apply_run *r, const char *path)
{
	cli            *c    = r->ar_cli;
	const char     *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	sf_manifest_set set  = {NULL, 0};

	if (sf__cli_manifest_load(path, &set) != 0) {
		r->ar_failed++;
		sf_manifest_set_fini(&set);
		return;
	}
	for (size_t i = 0; i < set.ms_ndocs && !r->ar_stop; i++) {
		if (set.ms_docs[i].md_obj == NULL) {
			continue;
		}
		r->ar_docs++;
		if (sf__cli_connect(c) != 0) {
			r->ar_failed++;
			r->ar_stop = true;
			break;
		}
		apply_doc(r, name, &set.ms_docs[i]);
	}
	sf_manifest_set_fini(&set);
}

static int
manifest_name(const struct dirent *d)
{
	size_t      n      = strlen(d->d_name);
	const char *exts[] = {".yaml", ".yml", ".json"};
	if (d->d_name[0] == '.') {
		return (0);
	}
	for (size_t i = 0; i < 3; i++) {
		size_t e = strlen(exts[i]);
		if (n > e && strcmp(d->d_name + n - e, exts[i]) == 0) {
			return (1);
		}
	}
	return (0);
}

// A directory means its manifests (not recursive), in name order.
static void
apply_path(apply_run *r, const char *path)
{
	struct stat     sb;
	struct dirent **ents;
	int             n;

	if (strcmp(path, "-") == 0 || stat(path, &sb) != 0
	    || !S_ISDIR(sb.st_mode)) {
		apply_file(r, path);
		return;
	}
	if ((n = scandir(path, &ents, manifest_name, alphasort)) < 0) {
		sf__cli_fail(SF_INVALID_ARGUMENT,
		    "cannot read directory %s: %s", path, strerror(errno));
		r->ar_failed++;
		return;
	}
	for (int i = 0; i < n; i++) {
		char *f = sf_arena_printf(
		    &r->ar_cli->c_arena, "%s/%s", path, ents[i]->d_name);
		if (f != NULL && !r->ar_stop) {
			apply_file(r, f);
		}
		free(ents[i]);
	}
	free(ents);
}

int
sf__cli_cmd_apply(cli *c)
{
	const cli_list *files = &c->c_list[F_FILENAME];
	apply_run       r;

	memset(&r, 0, sizeof(r));
	r.ar_cli = c;
	r.ar_dry = sf__cli_flag(c, F_DRY_RUN);
	for (size_t i = 0; i < files->l_n && !r.ar_stop; i++) {
		apply_path(&r, files->l_v[i]);
	}
	if (r.ar_docs == 0 && r.ar_failed == 0) {
		return (sf__cli_fail(
		    SF_INVALID_ARGUMENT, "no objects passed to apply"));
	}
	if (c->c_output == OUT_JSON || c->c_output == OUT_YAML) {
		Svcfleet__V1__Service **svcs
		    = calloc(r.ar_nreplies + 1, sizeof(*svcs));
		if (svcs == NULL) {
			r.ar_failed++;
		} else {
			for (size_t i = 0; i < r.ar_nreplies; i++) {
				svcs[i] = r.ar_replies[i]->service;
			}
			if (sf__cli_print_services(
			        c, svcs, r.ar_nreplies, true, false)
			    != 0) {
				r.ar_failed++;
			}
			free(svcs);
		}
	}
	for (size_t i = 0; i < r.ar_nreplies; i++) {
		svcfleet_free(r.ar_replies[i]);
	}
	free(r.ar_replies);
	return (r.ar_failed > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK);
}
