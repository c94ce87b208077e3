// complete.c: `svcfleet __complete WORD...` — what bash completion offers
// for the last WORD of a command line (issue 20), driven by the same
// tables as parsing, so it never falls behind them: a command's own flags
// (and the global ones), -o's formats, the choices of --type and the
// like, and from the server the cluster names, namespaces and Service
// names, cached for a few seconds so that pressing TAB twice does not ask
// twice. deploy/completion/svcfleet.bash calls it; one candidate per line
// on stdout, or "__files__" where a file name is wanted. Errors are never
// shown: a completion that cannot ask the server offers nothing.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

// How long answers from the server are kept (SVCFLEET_COMPLETION_CACHE_S
// overrides it; 0 turns the cache off).
#define CACHE_SECONDS 10
// Completion must feel instant: a server that does not answer in this
// time offers nothing.
#define COMPLETE_TIMEOUT_MS 2000

// The cache file for key, in $XDG_CACHE_HOME/svcfleet or
// ~/.cache/svcfleet (a directory only the user may read), or NULL.
static char *
cache_path(cli *c, const char *key)
{
	const char *base = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char       *dir;
	uint64_t    h = 1469598103934665603ull; // FNV-1a
	struct stat sb;

	for (const char *p = key; *p != '\0'; p++) {
		h = (h ^ (unsigned char) *p) * 1099511628211ull;
	}
	if (base != NULL && base[0] == '/') {
		(void) mkdir(base, 0700); // the XDG spec: made when missing
		dir = sf_arena_printf(&c->c_arena, "%s/svcfleet", base);
	} else if (home != NULL && home[0] == '/') {
		dir = sf_arena_printf(&c->c_arena, "%s/.cache", home);
		if (dir != NULL) {
			(void) mkdir(dir, 0700);
		}
		dir = sf_arena_printf(&c->c_arena, "%s/.cache/svcfleet", home);
	} else {
		return (NULL);
	}
	if (dir == NULL || (mkdir(dir, 0700) != 0 && errno != EEXIST)
	    || lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)
	    || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
		return (NULL);
	}
	return (sf_arena_printf(
	    &c->c_arena, "%s/complete-%016llx", dir, (unsigned long long) h));
}

static long
cache_seconds(void)
{
	const char *v = getenv("SVCFLEET_COMPLETION_CACHE_S");
	return (
	    v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : CACHE_SECONDS);
}

// Prints a fresh cached answer for key; true when there was one.
static bool
cache_print(cli *c, const char *key)
{
	const char *path = cache_seconds() > 0 ? cache_path(c, key) : NULL;
	struct stat sb;
	sf_buf      b = SF_BUF_INIT;

	if (path == NULL || stat(path, &sb) != 0
	    || time(NULL) - sb.st_mtime > cache_seconds()
	    || sf__cli_read_file(path, &b) != 0) {
		sf_buf_fini(&b);
		return (false);
	}
	fputs(sf_buf_cstr(&b), stdout);
	sf_buf_fini(&b);
	return (true);
}

static void
cache_store(cli *c, const char *key, const char *text)
{
	const char *path = cache_seconds() > 0 ? cache_path(c, key) : NULL;
	char       *tmp;
	int         fd;

	if (path == NULL
	    || (tmp = sf_arena_printf(
	            &c->c_arena, "%s.%ld", path, (long) getpid()))
	        == NULL
	    || (fd = open(
	            tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600))
	        < 0) {
		return;
	}
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t) n || close(fd) != 0) {
		unlink(tmp);
		return;
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
	}
}

// What the server knows, one name a line: "clusters", "namespaces"
// (of --cluster, else of the stored Services), "services" (of --cluster
// and -n).
static void
from_server(cli *c, const char *what)
{
	const char *cl = sf__cli_value(c, F_CLUSTER, "");
	const char *ns = sf__cli_namespace(c);
	const char *srv
	    = sf__cli_value(c, F_SERVER, getenv("SVCFLEET_SERVER"));
	char  *key = sf_arena_printf(&c->c_arena, "%s|%s|%s|%s", sf_nz(srv),
	     what, cl, strcmp(what, "services") == 0 ? ns : "");
	sf_buf out = SF_BUF_INIT;

	if (key == NULL || cache_print(c, key) || sf__cli_connect(c) != 0) {
		return;
	}
	if (strcmp(what, "clusters") == 0) {
		Svcfleet__V1__ListClustersRequest req
		    = SVCFLEET__V1__LIST_CLUSTERS_REQUEST__INIT;
		Svcfleet__V1__ListClustersReply *rep = NULL;
		if (svcfleet_list_clusters(c->c_client, &req, &rep, &c->c_st)
		    == 0) {
			for (size_t i = 0; i < rep->n_clusters; i++) {
				sf_buf_printf(
				    &out, "%s\n", rep->clusters[i]->name);
			}
		}
		svcfleet_free(rep);
	} else if (strcmp(what, "namespaces") == 0 && cl[0] != '\0') {
		Svcfleet__V1__ListNamespacesRequest req
		    = SVCFLEET__V1__LIST_NAMESPACES_REQUEST__INIT;
		Svcfleet__V1__ListNamespacesReply *rep = NULL;
		req.cluster                            = (char *) cl;
		if (svcfleet_list_namespaces(c->c_client, &req, &rep, &c->c_st)
		    == 0) {
			for (size_t i = 0; i < rep->n_namespaces; i++) {
				sf_buf_printf(
				    &out, "%s\n", rep->namespaces[i]);
			}
		}
		svcfleet_free(rep);
	} else {
		// Namespaces without a cluster: those of the stored Services
		// (one page is plenty for a completion).
		bool names = strcmp(what, "services") == 0;
		Svcfleet__V1__ListServicesRequest req
		    = SVCFLEET__V1__LIST_SERVICES_REQUEST__INIT;
		Svcfleet__V1__ListServicesReply *rep = NULL;
		req.cluster                          = (char *) cl;
		req.namespace_ = names ? (char *) ns : "";
		req.page_size  = 500;
		if (svcfleet_list_services(c->c_client, &req, &rep, &c->c_st)
		    == 0) {
			for (size_t i = 0; i < rep->n_services; i++) {
				const Svcfleet__V1__ObjectMeta *m
				    = rep->services[i]->metadata;
				const char *w
				    = names ? m->name : m->namespace_;
				char *line
				    = sf_arena_printf(&c->c_arena, "%s\n", w);
				if (line != NULL
				    && (names
				        || strstr(sf_buf_cstr(&out), line)
				            == NULL)) {
					sf_buf_printf(&out, "%s", line);
				}
			}
		}
		svcfleet_free(rep);
	}
	if (!out.b_oom) {
		fputs(sf_buf_cstr(&out), stdout);
		cache_store(c, key, sf_buf_cstr(&out));
	}
	sf_buf_fini(&out);
}

// Value choices of a flag, or what to ask the server for.
static const struct {
	int         vf_flag;
	const char *vf_words; // space-separated; "@x": from_server(x);
	                      // "__files__": a file name
} value_words[] = {
    {F_OUTPUT, "table wide json yaml name"},
    {F_TYPE, "clusterip nodeport loadbalancer"},
    {F_TRAFFIC_POLICY, "cluster local"},
    {F_LB_TYPE, "metallb other"},
    {F_FOR, "synced deleted"},
    {F_CLUSTER, "@clusters"},
    {F_NAMESPACE, "@namespaces"},
    {F_FILENAME, "__files__"},
    {F_TOKEN_FILE, "__files__"},
    {F_CLUSTER_TOKEN_FILE, "__files__"},
    {F_CA_FILE, "__files__"},
    {F_KUBECONFIG, "__files__"},
};

static void
print_words(const char *words)
{
	for (const char *p = words; *p != '\0';) {
		size_t n = strcspn(p, " ");
		printf("%.*s\n", (int) n, p);
		p += n;
		p += *p == ' ';
	}
}

static void
complete_value(cli *c, int id)
{
	for (size_t i = 0; i < sizeof(value_words) / sizeof(value_words[0]);
	     i++) {
		if (value_words[i].vf_flag != id) {
			continue;
		}
		if (value_words[i].vf_words[0] == '@') {
			from_server(c, value_words[i].vf_words + 1);
		} else {
			print_words(value_words[i].vf_words);
		}
	}
}

static void
print_flags(uint64_t flags)
{
	for (int id = 0; id < F_COUNT; id++) {
		if (flags & (UINT64_C(1) << id)) {
			printf("--%s\n", sf__cli_flag_defs[id].fd_name);
			if (sf__cli_flag_defs[id].fd_short != 0) {
				printf(
				    "-%c\n", sf__cli_flag_defs[id].fd_short);
			}
		}
	}
}

static int
flag_id(const char *w, size_t *eq)
{
	*eq = 0;
	if (w[1] == '-') {
		size_t n = strcspn(w + 2, "=");
		*eq      = w[2 + n] == '=' ? 2 + n : 0;
		for (int id = 0; id < F_COUNT; id++) {
			if (strlen(sf__cli_flag_defs[id].fd_name) == n
			    && strncmp(sf__cli_flag_defs[id].fd_name, w + 2, n)
			        == 0) {
				return (id);
			}
		}
		return (-1);
	}
	for (int id = 0; id < F_COUNT; id++) {
		if (sf__cli_flag_defs[id].fd_short == w[1]) {
			*eq = w[2] != '\0' ? 2 : 0;
			return (id);
		}
	}
	return (-1);
}

int
sf__cli_complete(cli *c, int n, char **words)
{
	const char **pos;
	size_t       npos = 0, nw = 0;
	int          want = -1; // a flag whose value is being typed
	const char  *cur  = n > 0 ? words[n - 1] : "";

	// Nothing but candidates on stdout; no error reaches the terminal.
	if (freopen("/dev/null", "w", stderr) == NULL) {
		return (CLI_EXIT_FAIL);
	}
	pos = sf_arena_alloc(&c->c_arena, ((size_t) n + 1) * sizeof(*pos));
	if (pos == NULL) {
		return (CLI_EXIT_FAIL);
	}
	for (int i = 0; i + 1 < n; i++) {
		const char *w = words[i];
		size_t      eq;
		int         id;
		if (w[0] != '-' || w[1] == '\0') {
			pos[npos++] = w;
			continue;
		}
		if ((id = flag_id(w, &eq)) < 0) {
			continue;
		}
		if (sf__cli_flag_defs[id].fd_kind == FK_BOOL) {
			c->c_set[id] = true;
			c->c_val[id] = "true";
			continue;
		}
		const char *v = eq > 0 ? w + eq + (w[eq] == '=') : NULL;
		// bash splits "--cluster=x" into "--cluster" "=" "x".
		if (v == NULL && i + 1 < n - 1
		    && strcmp(words[i + 1], "=") == 0) {
			i++;
		}
		if (v == NULL && i + 1 < n - 1) {
			v = words[++i];
		}
		if (v == NULL) {
			want = id; // the last word is this flag's value
			continue;
		}
		c->c_set[id] = true;
		c->c_val[id] = v;
	}
	if (n >= 2 && strcmp(words[n - 2], "=") == 0 && n >= 3
	    && words[n - 3][0] == '-') {
		size_t eq;
		want = flag_id(words[n - 3], &eq);
	}
	c->c_cmd        = sf__cli_find_command(pos, npos, &nw);
	c->c_timeout_ms = COMPLETE_TIMEOUT_MS;
	if (c->c_cmd == NULL) {
		c->c_cmd
		    = sf__cli_find_command((const char *[]) {"help"}, 1, &nw);
		nw = 0;
		if (want < 0 && cur[0] != '-') {
			sf__cli_complete_words(pos, npos);
			return (CLI_EXIT_OK);
		}
	}
	if (want >= 0) {
		complete_value(c, want);
		return (CLI_EXIT_OK);
	}
	if (cur[0] == '-') {
		print_flags(c->c_cmd->cm_flags | sf__cli_global_flags());
		return (CLI_EXIT_OK);
	}
	// The command's argument.
	if (npos - nw >= (size_t) c->c_cmd->cm_args_max) {
		return (CLI_EXIT_OK);
	}
	const char *w = c->c_cmd->cm_words;
	if (strncmp(w, "cluster ", 8) == 0 && c->c_cmd->cm_args_max > 0
	    && strncmp(w, "cluster add", 11) != 0) {
		from_server(c, "clusters");
	} else if (strstr(w, " service|") != NULL) {
		from_server(c, "services");
	}
	return (CLI_EXIT_OK);
}
