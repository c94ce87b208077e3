// edit.c: `svcfleet edit service NAME --cluster C -n NS` (issue 19), as
// kubectl edit works: the Service's manifest goes to a temporary file,
// $KUBE_EDITOR, $EDITOR or vi opens it, and the saved file is stored with
// the resource version that was opened. A conflict (the spec changed since)
// or a validation error re-opens the file with the error as '#' lines on
// top; a file saved unchanged or emptied cancels the edit.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"

static const char edit_header[]
    = "# Please edit the object below. Lines beginning with a '#' will be "
      "ignored,\n"
      "# and an empty file will abort the edit. If an error occurs while "
      "saving this\n"
      "# file will be reopened with the relevant failures.\n"
      "#\n";

// Which editor, as kubectl chooses: $KUBE_EDITOR, $EDITOR, else vi.
static const char *
editor_cmd(void)
{
	const char *e = getenv("KUBE_EDITOR");
	if (e == NULL || e[0] == '\0') {
		e = getenv("EDITOR");
	}
	return (e != NULL && e[0] != '\0' ? e : "vi");
}

// Runs the editor on path through the shell (the variable may hold
// arguments: "code --wait"). Returns 0 or -1 with why set.
static int
run_editor(const char *path, char *why, size_t cap)
{
	sf_buf cmd = SF_BUF_INIT;
	int    status;
	pid_t  pid;

	sf_buf_printf(&cmd, "%s \"$1\"", editor_cmd());
	if (cmd.b_oom) {
		sf_buf_fini(&cmd);
		snprintf(why, cap, "out of memory");
		return (-1);
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		snprintf(
		    why, cap, "cannot start the editor: %s", strerror(errno));
		sf_buf_fini(&cmd);
		return (-1);
	}
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", sf_buf_cstr(&cmd),
		    "svcfleet-edit", path, (char *) NULL);
		_exit(127);
	}
	sf_buf_fini(&cmd);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(why, cap, "waiting for the editor: %s",
			    strerror(errno));
			return (-1);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, cap, "the editor \"%s\" exited with %s %d",
		    editor_cmd(), WIFEXITED(status) ? "status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status)
		                      : WTERMSIG(status));
		return (-1);
	}
	return (0);
}

// The text without its comment lines (first non-blank '#'), as kubectl
// compares an edit with what it opened.
static void
strip_comments(const char *s, sf_buf *out)
{
	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t len    = nl != NULL ? (size_t) (nl - s) + 1 : strlen(s);
		const char *p = s;
		while (p < s + len && (*p == ' ' || *p == '\t')) {
			p++;
		}
		if (p == s + len || *p != '#') {
			sf_buf_put(out, s, len);
		}
		s += len;
	}
	(void) sf_buf_cstr(out);
}

static bool
blank(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
			return (false);
		}
	}
	return (true);
}

// One comment line per line of text.
static void
comment(sf_buf *b, const char *text)
{
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl != NULL ? (size_t) (nl - text) : strlen(text);
		sf_buf_printf(b, "# %.*s\n", (int) len, text);
		text += len + (nl != NULL);
	}
}

static int
write_file(const char *path, const sf_buf *b)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		return (-1);
	}
	if (fwrite(b->b_data, 1, b->b_len, f) != b->b_len) {
		fclose(f);
		return (-1);
	}
	return (fclose(f));
}

// The Service's manifest as the user edits it.
static int
render(const Svcfleet__V1__Service *svc, sf_buf *yaml)
{
	json_t *m  = sf_model_service_to_manifest(svc);
	int     rv = m != NULL ? sf_model_json_to_yaml(m, yaml) : -1;
	json_decref(m);
	return (rv != 0 || yaml->b_oom ? -1 : 0);
}

typedef struct edit_run {
	cli                     *er_cli;
	Svcfleet__V1__ServiceKey er_key;
	uint64_t                 er_rv;  // the version the edit saves against
	int64_t                  er_gen; // the generation opened
	sf_buf                   er_err; // the last save's error, as comments
	bool                     er_fatal;
} edit_run;

static void
err_sf(edit_run *r, const sf_status *st, const sf_manifest_doc *doc)
{
	sf_buf_printf(&r->er_err, "error: %s: %s\n",
	    svcfleet_code_name(st->st_code), st->st_msg);
	for (size_t i = 0; i < st->st_nviol; i++) {
		int line = doc != NULL
		    ? sf_manifest_line_of(doc, st->st_viol[i].v_field)
		    : 0;
		sf_buf_printf(&r->er_err, "  %s: %s", st->st_viol[i].v_field,
		    st->st_viol[i].v_reason);
		if (line > 0) {
			sf_buf_printf(&r->er_err, " (line %d)", line);
		}
		sf_buf_printf(&r->er_err, "\n");
	}
}

// save parses the edited text as saved (its comments are YAML comments:
// line numbers in errors are the file's) and stores it. Returns 0 when saved
// (*out: the stored Service), else -1 with the error in er_err.
static int
save(edit_run *r, const char *text, Svcfleet__V1__Service **out)
{
	cli                               *c   = r->er_cli;
	sf_manifest_set                    set = {NULL, 0};
	sf_service                        *svc = NULL;
	sf_status                          st;
	Svcfleet__V1__UpdateServiceRequest req
	    = SVCFLEET__V1__UPDATE_SERVICE_REQUEST__INIT;
	const sf_manifest_doc *doc = NULL;
	int                    rv  = -1;

	sf_status_init(&st);
	if (sf_manifest_parse(text, strlen(text), "edited file", &set, &st)
	    != 0) {
		err_sf(r, &st, NULL);
		goto out;
	}
	for (size_t i = 0; i < set.ms_ndocs; i++) {
		if (set.ms_docs[i].md_obj != NULL) {
			if (doc != NULL) {
				sf_buf_printf(&r->er_err,
				    "error: INVALID_ARGUMENT: the file holds "
				    "more than one object; edit saves one "
				    "Service\n");
				goto out;
			}
			doc = &set.ms_docs[i];
		}
	}
	if (doc == NULL) {
		sf_buf_printf(&r->er_err,
		    "error: INVALID_ARGUMENT: the file holds no object\n");
		goto out;
	}
	if (sf_model_service_from_manifest(
	        doc->md_obj, r->er_key.cluster, &c->c_arena, &svc, &st)
	    != 0) {
		err_sf(r, &st, doc);
		goto out;
	}
	if (strcmp(sf_nz(svc->metadata->name), r->er_key.name) != 0
	    || strcmp(sf_nz(svc->metadata->namespace_), r->er_key.namespace_)
	        != 0) {
		const char *f
		    = strcmp(sf_nz(svc->metadata->name), r->er_key.name) != 0
		    ? "metadata.name"
		    : "metadata.namespace";
		int line = sf_manifest_line_of(doc, f);
		sf_buf_printf(&r->er_err,
		    "error: INVALID_ARGUMENT: edit changes one Service: its "
		    "name and namespace stay %s/%s\n  %s: may not be changed "
		    "by edit (line %d)\n",
		    r->er_key.namespace_, r->er_key.name, f, line);
		goto out;
	}
	// Saved against the version opened, whatever the file says.
	svc->metadata->resource_version = r->er_rv;
	req.service                     = svc;
	if (svcfleet_update_service(c->c_client, &req, out, &c->c_st) != 0) {
		svcfleet_status *cs = &c->c_st;
		sf_buf_printf(&r->er_err, "error: %s: %s\n",
		    svcfleet_code_name(cs->code), cs->message);
		for (size_t i = 0; i < cs->n_violations; i++) {
			int line = sf_manifest_line_of(
			    doc, cs->violations[i].field);
			sf_buf_printf(&r->er_err, "  %s: %s",
			    cs->violations[i].field, cs->violations[i].reason);
			if (line > 0) {
				sf_buf_printf(&r->er_err, " (line %d)", line);
			}
			sf_buf_printf(&r->er_err, "\n");
		}
		r->er_fatal = cs->code != SVCFLEET_INVALID_ARGUMENT
		    && cs->code != SVCFLEET_ABORTED;
		if (cs->code == SVCFLEET_ABORTED) {
			// Someone changed the spec since it was opened: show
			// it, and let the next save go against what is
			// stored now.
			Svcfleet__V1__GetServiceRequest get
			    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
			Svcfleet__V1__Service *cur = NULL;
			svcfleet_status        gst;
			svcfleet_status_init(&gst);
			get.key = &r->er_key;
			if (svcfleet_get_service(c->c_client, &get, &cur, &gst)
			    == 0) {
				r->er_rv = cur->metadata->resource_version;
				sf_buf_printf(&r->er_err,
				    "The Service is now generation %" PRId64
				    ". Saving this file again replaces that "
				    "change with yours; it reads:\n",
				    cur->metadata->generation);
				sf_buf y = SF_BUF_INIT;
				if (render(cur, &y) == 0) {
					sf_buf_printf(
					    &r->er_err, "%s", sf_buf_cstr(&y));
				}
				sf_buf_fini(&y);
				svcfleet_free(cur);
			} else {
				r->er_fatal = true;
			}
			svcfleet_status_fini(&gst);
		}
		goto out;
	}
	rv = 0;
out:
	sf_manifest_set_fini(&set);
	sf_status_fini(&st);
	return (rv);
}

int
sf__cli_cmd_edit_service(cli *c)
{
	Svcfleet__V1__GetServiceRequest get
	    = SVCFLEET__V1__GET_SERVICE_REQUEST__INIT;
	Svcfleet__V1__Service *cur = NULL, *out = NULL;
	edit_run               r;
	sf_buf                 yaml = SF_BUF_INIT;
	char                   path[512], why[256];
	const char            *tmp = getenv("TMPDIR");
	int                    fd, rv = CLI_EXIT_FAIL;
	bool                   first = true, keep = false;

	memset(&r, 0, sizeof(r));
	r.er_cli = c;
	svcfleet__v1__service_key__init(&r.er_key);
	r.er_key.cluster    = (char *) sf__cli_value(c, F_CLUSTER, "");
	r.er_key.namespace_ = (char *) sf__cli_namespace(c);
	r.er_key.name       = (char *) c->c_args[0];
	if ((rv = sf__cli_connect(c)) != 0) {
		return (rv);
	}
	get.key = &r.er_key;
	if (svcfleet_get_service(c->c_client, &get, &cur, &c->c_st) != 0) {
		return (sf__cli_fail_status(&c->c_st, NULL));
	}
	r.er_rv  = cur->metadata->resource_version;
	r.er_gen = cur->metadata->generation;
	if (render(cur, &yaml) != 0) {
		svcfleet_free(cur);
		sf_buf_fini(&yaml);
		return (sf__cli_fail(SF_RESOURCE_EXHAUSTED, "out of memory"));
	}
	svcfleet_free(cur);
	snprintf(path, sizeof(path), "%s/svcfleet-edit-XXXXXX.yaml",
	    tmp != NULL && tmp[0] != '\0' ? tmp : P_tmpdir);
	if ((fd = mkstemps(path, 5)) < 0) {
		sf_buf_fini(&yaml);
		return (sf__cli_fail(SF_INTERNAL,
		    "cannot make a temporary file: %s", strerror(errno)));
	}
	close(fd);
	for (;;) {
		sf_buf file = SF_BUF_INIT, edited = SF_BUF_INIT,
		       before = SF_BUF_INIT, after = SF_BUF_INIT;
		bool same;

		// The header, the last error, then the object.
		sf_buf_printf(&file, "%s", edit_header);
		if (r.er_err.b_len > 0) {
			comment(&file, sf_buf_cstr(&r.er_err));
			sf_buf_printf(&file, "#\n");
		}
		sf_buf_put(&file, yaml.b_data, yaml.b_len);
		if (file.b_oom || write_file(path, &file) != 0) {
			rv = sf__cli_fail(SF_INTERNAL, "cannot write %s: %s",
			    path, strerror(errno));
			sf_buf_fini(&file);
			break;
		}
		strip_comments(sf_buf_cstr(&file), &before);
		sf_buf_fini(&file);
		if (run_editor(path, why, sizeof(why)) != 0) {
			rv = sf__cli_fail(SF_CANCELLED, "%s", why);
			sf_buf_fini(&before);
			keep = !first;
			break;
		}
		if (sf__cli_read_file(path, &edited) != 0) {
			rv = sf__cli_fail(SF_INTERNAL, "cannot read %s: %s",
			    path, strerror(errno));
			sf_buf_fini(&before);
			sf_buf_fini(&edited);
			break;
		}
		strip_comments(sf_buf_cstr(&edited), &after);
		same = after.b_len == before.b_len
		    && memcmp(sf_buf_cstr(&after), sf_buf_cstr(&before),
		           after.b_len)
		        == 0;
		sf_buf_fini(&before);
		if (blank(sf_buf_cstr(&after))) {
			fprintf(
			    stderr, "Edit cancelled, saved file was empty.\n");
			rv = CLI_EXIT_OK;
		} else if (same && first) {
			fprintf(stderr, "Edit cancelled, no changes made.\n");
			rv = CLI_EXIT_OK;
		} else if (same) {
			rv   = sf__cli_fail(SF_CANCELLED,
			      "edit cancelled, no valid changes were saved; "
			        "your changes are kept in %s",
			      path);
			keep = true;
		} else {
			sf_buf_reset(&r.er_err);
			if (save(&r, sf_buf_cstr(&edited), &out) == 0) {
				// Labels and annotations change the
				// version, not the generation.
				bool changed
				    = out->metadata->generation != r.er_gen
				    || out->metadata->resource_version
				        != r.er_rv;
				if (c->c_output == OUT_JSON
				    || c->c_output == OUT_YAML) {
					rv = sf__cli_print_services(
					    c, &out, 1, false, false);
				} else if (changed) {
					printf("service/%s edited\n",
					    r.er_key.name);
					rv = CLI_EXIT_OK;
				} else {
					fprintf(stderr,
					    "Edit cancelled, no "
					    "changes made.\n");
					rv = CLI_EXIT_OK;
				}
				svcfleet_free(out);
			} else if (r.er_fatal) {
				// Not something a new save can fix: say
				// so, keep the user's text.
				fputs(sf_buf_cstr(&r.er_err), stderr);
				fprintf(stderr,
				    "your changes are kept in %s\n", path);
				rv   = CLI_EXIT_FAIL;
				keep = true;
			} else {
				// Re-open with the error on top and the
				// user's text (comments dropped) below.
				sf_buf_reset(&yaml);
				sf_buf_put(&yaml, after.b_data, after.b_len);
				sf_buf_fini(&after);
				sf_buf_fini(&edited);
				first = false;
				continue;
			}
		}
		sf_buf_fini(&after);
		sf_buf_fini(&edited);
		break;
	}
	if (!keep) {
		unlink(path);
	}
	sf_buf_fini(&r.er_err);
	sf_buf_fini(&yaml);
	return (rv);
}
