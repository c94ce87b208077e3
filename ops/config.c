// config.c: the option engine of ops.h.
#include "ops.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "file.h"
#include "log.h"
#include "str.h"

#define MAX_FILE (1 << 20)

// What a value is being set from: for precedence of lists and messages.
enum source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

typedef struct loader {
	sf_config *l_cfg;
	void      *l_fields;
	FILE      *l_err;
	// The source that last set each list option (lists are replaced,
	// not merged, by a higher source).
	int *l_list_src;
} loader;

static char *
keep(sf_config *cfg, char *s)
{
	char **nk;
	if (s == NULL) {
		return (NULL);
	}
	if ((nk = realloc(cfg->c_keep, (cfg->c_nkeep + 1) * sizeof(*nk)))
	    == NULL) {
		free(s);
		return (NULL);
	}
	cfg->c_keep                 = nk;
	cfg->c_keep[cfg->c_nkeep++] = s;
	return (s);
}

// Says what is wrong with a value, naming the option and its source.
static void
bad_value(loader *l, const sf_opt *o, const char *where, const char *val,
    const char *why)
{
	const char *prog = l->l_cfg->c_table->t_prog;
	if (strncmp(where, "--", 2) == 0) {
		fprintf(l->l_err, "%s: invalid value \"%s\" for %s: %s\n",
		    prog, val, where, why);
	} else if (strcmp(where, o->o_env) == 0) {
		fprintf(l->l_err,
		    "%s: invalid value \"%s\" for %s (environment, --%s): "
		    "%s\n",
		    prog, val, where, o->o_name, why);
	} else {
		fprintf(l->l_err, "%s: %s: invalid value \"%s\" for %s: %s\n",
		    prog, where, val, o->o_name, why);
	}
}

static int
set_value(loader *l, size_t idx, const char *val, int src, const char *where)
{
	const sf_opt *o     = &l->l_cfg->c_table->t_opts[idx];
	char         *field = (char *) l->l_fields + o->o_off;
	sf_buf        why   = SF_BUF_INIT;

	if (o->o_check != NULL && !o->o_check(val, &why)) {
		bad_value(l, o, where, val, sf_buf_cstr(&why));
		sf_buf_fini(&why);
		return (-1);
	}
	sf_buf_fini(&why);
	switch (o->o_type) {
	case SF_OPT_STRING:
		*(const char **) field = val;
		break;
	case SF_OPT_LIST: {
		sf_opt_list *lst = (sf_opt_list *) field;
		if (l->l_list_src[idx] != src) {
			lst->l_n           = 0; // a higher source replaces
			l->l_list_src[idx] = src;
		}
		if (lst->l_n == SF_OPT_LIST_MAX) {
			char msg[64];
			snprintf(msg, sizeof(msg), "at most %d values",
			    SF_OPT_LIST_MAX);
			bad_value(l, o, where, val, msg);
			return (-1);
		}
		lst->l_items[lst->l_n++] = val;
		break;
	}
	case SF_OPT_INT: {
		char *end;
		long  v;
		errno = 0;
		v     = strtol(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || v < o->o_min
		    || v > o->o_max) {
			char msg[96];
			snprintf(msg, sizeof(msg),
			    "want an integer from %ld to %ld", o->o_min,
			    o->o_max);
			bad_value(l, o, where, val, msg);
			return (-1);
		}
		*(long *) field = v;
		break;
	}
	case SF_OPT_BOOL:
		if (strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0
		    || strcasecmp(val, "yes") == 0) {
			*(bool *) field = true;
		} else if (strcasecmp(val, "false") == 0
		    || strcmp(val, "0") == 0 || strcasecmp(val, "no") == 0) {
			*(bool *) field = false;
		} else {
			bad_value(l, o, where, val, "want true or false");
			return (-1);
		}
		break;
	default:
		return (-1);
	}
	snprintf(l->l_cfg->c_src[idx].s_where,
	    sizeof(l->l_cfg->c_src[idx].s_where), "%s", where);
	return (0);
}

static long
find_opt(const sf_opt_table *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->t_nopts; i++) {
		if (strlen(t->t_opts[i].o_name) == len
		    && strncmp(t->t_opts[i].o_name, name, len) == 0) {
			return ((long) i);
		}
	}
	return (-1);
}

// find_opt_or_former finds an option by name or by a former name
// (t_renamed_flags). A former name is warned about on err (NULL: not):
// as a flag when where is NULL, else as the key at where ("FILE:LINE").
static long
find_opt_or_former(const sf_opt_table *t, const char *name, size_t len,
    FILE *err, const char *where)
{
	long idx = find_opt(t, name, len);
	if (idx >= 0) {
		return (idx);
	}
	for (size_t i = 0; i < t->t_nrenamed_flags; i++) {
		const sf_opt_renamed_flag *rf = &t->t_renamed_flags[i];
		if (strlen(rf->rf_old) != len
		    || strncmp(rf->rf_old, name, len) != 0) {
			continue;
		}
		idx = find_opt(t, rf->rf_name, strlen(rf->rf_name));
		if (idx >= 0 && err != NULL) {
			bool flag = where == NULL;
			fprintf(err,
			    "%s: %s%swarning: %s%s is deprecated and will "
			    "stop "
			    "working in a later release: %s %s%s instead\n",
			    t->t_prog, flag ? "" : where, flag ? "" : ": ",
			    flag ? "--" : "", rf->rf_old,
			    flag ? "use" : "write", flag ? "--" : "",
			    rf->rf_name);
		}
		return (idx);
	}
	return (-1);
}

// The environment variable naming the configuration file: the "config"
// option's.
static const char *
config_env(const sf_opt_table *t)
{
	long idx = find_opt(t, "config", strlen("config"));
	return (idx >= 0 ? t->t_opts[idx].o_env : "SVCFLEET_CONFIG");
}

static int
load_defaults(loader *l)
{
	const sf_opt_table *t = l->l_cfg->c_table;
	for (size_t i = 0; i < t->t_nopts; i++) {
		if (t->t_opts[i].o_def != NULL
		    && set_value(
		           l, i, t->t_opts[i].o_def, SRC_DEFAULT, "default")
		        != 0) {
			return (-1);
		}
		snprintf(l->l_cfg->c_src[i].s_where,
		    sizeof(l->l_cfg->c_src[i].s_where), "default");
	}
	return (0);
}

static char *
trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
		*--e = '\0';
	}
	return (s);
}

static int
load_file(loader *l, const char *path)
{
	sf_config          *cfg  = l->l_cfg;
	const sf_opt_table *t    = cfg->c_table;
	const char         *prog = t->t_prog;
	char               *text, *line;
	int                 lineno = 0;

	if ((text = keep(cfg, sf_file_read(path, MAX_FILE, NULL))) == NULL) {
		if (errno == EFBIG || errno == ENOMEM) {
			fprintf(l->l_err,
			    "%s: cannot read the configuration file %s: not a "
			    "file of at most 1 MiB\n",
			    prog, path);
		} else {
			fprintf(l->l_err,
			    "%s: cannot read the configuration file %s: %s\n",
			    prog, path, strerror(errno));
		}
		return (-1);
	}
	cfg->c_file = path;

	// strsep keeps empty lines, so line numbers stay right.
	char *rest = text;
	while ((line = strsep(&rest, "\n")) != NULL) {
		char where[300], *key, *val, *eq;
		long idx;
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		key = trim(line);
		if (*key == '\0' || *key == '#') {
			continue;
		}
		if ((eq = strchr(key, '=')) == NULL) {
			fprintf(l->l_err,
			    "%s: %s: want \"name = value\", got \"%.80s\"\n",
			    prog, where, key);
			return (-1);
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (strncmp(key, "--", 2) == 0) {
			key += 2;
		}
		size_t vlen = strlen(val);
		if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
			val[vlen - 1] = '\0';
			val++;
		}
		idx = find_opt_or_former(t, key, strlen(key), l->l_err, where);
		if (idx < 0 || strcmp(key, "config") == 0) {
			fprintf(l->l_err, "%s: %s: unknown option \"%s\"%s\n",
			    prog, where, key,
			    idx < 0 ? " (see --help)"
			            : " (a file cannot name another file)");
			return (-1);
		}
		if (set_value(l, (size_t) idx, val, SRC_FILE, where) != 0) {
			return (-1);
		}
	}
	return (0);
}

// env_value returns the value of environment variable env, or of the
// name it had before (with a warning on err, and *name set to the name
// read), or NULL when neither is set.
static const char *
env_value(const sf_opt_table *t, const char *env, const char **name, FILE *err)
{
	const char *v = getenv(env);

	*name = env;
	if (v != NULL && v[0] != '\0') {
		return (v);
	}
	for (size_t i = 0; i < t->t_nrenamed; i++) {
		if (strcmp(t->t_renamed[i].r_env, env) != 0) {
			continue;
		}
		v = getenv(t->t_renamed[i].r_old);
		if (v == NULL || v[0] == '\0') {
			return (NULL);
		}
		*name = t->t_renamed[i].r_old;
		fprintf(err,
		    "%s: warning: %s is deprecated and will stop working in "
		    "a later release: set %s instead\n",
		    t->t_prog, *name, env);
		return (v);
	}
	return (NULL);
}

static int
load_env(loader *l)
{
	const sf_opt_table *t = l->l_cfg->c_table;
	for (size_t i = 0; i < t->t_nopts; i++) {
		const sf_opt *o = &t->t_opts[i];
		const char   *env;
		const char   *v;
		if (strcmp(o->o_name, "config") == 0
		    || (v = env_value(t, o->o_env, &env, l->l_err)) == NULL) {
			continue;
		}
		if (o->o_type != SF_OPT_LIST) {
			if (set_value(l, i, v, SRC_ENV, env) != 0) {
				return (-1);
			}
			continue;
		}
		// Lists come as "a,b,c".
		char *copy = keep(l->l_cfg, strdup(v)), *tok, *rest = copy;
		if (copy == NULL) {
			return (-1);
		}
		while ((tok = strsep(&rest, ",")) != NULL) {
			tok = trim(tok);
			if (*tok != '\0'
			    && set_value(l, i, tok, SRC_ENV, env) != 0) {
				return (-1);
			}
		}
	}
	return (0);
}

// Walks argv: with apply false it only finds --config (and answers --help
// and --version); with apply true it sets every flag.
static int
load_flags(loader *l, int argc, char **argv, int first, bool apply,
    const char **config, FILE *out)
{
	const sf_opt_table *t    = l->l_cfg->c_table;
	const char         *prog = t->t_prog;

	for (int i = first; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		long        idx;
		char        where[80];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			if (!apply) {
				sf_config_usage(t, out);
			}
			return (1);
		}
		if (strcmp(arg, "--version") == 0) {
			if (!apply) {
				fprintf(out, "%s %s\n", prog, SF_VERSION);
			}
			return (1);
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(l->l_err,
			    "%s: unexpected argument \"%s\" (see --help)\n",
			    prog, arg);
			return (-1);
		}
		eq  = strchr(arg, '=');
		idx = find_opt_or_former(t, arg + 2,
		    eq != NULL ? (size_t) (eq - arg - 2) : strlen(arg + 2),
		    apply ? l->l_err : NULL, NULL);
		if (idx < 0) {
			fprintf(l->l_err,
			    "%s: unknown flag %.*s (see --help)\n", prog,
			    eq != NULL ? (int) (eq - arg) : (int) strlen(arg),
			    arg);
			return (-1);
		}
		const sf_opt *o = &t->t_opts[idx];
		if (eq != NULL) {
			val = eq + 1;
		} else if (o->o_type == SF_OPT_BOOL) {
			// A bare boolean flag means true; "--x false" is not
			// a thing (the next word is another argument).
			val = "true";
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(l->l_err, "%s: --%s needs a value\n", prog,
			    o->o_name);
			return (-1);
		}
		if (strcmp(o->o_name, "config") == 0) {
			*config = val;
		}
		if (!apply) {
			continue;
		}
		// (A former name is named as given.)
		snprintf(where, sizeof(where), "%.*s",
		    eq != NULL ? (int) (eq - arg) : (int) strlen(arg), arg);
		if (set_value(l, (size_t) idx, val, SRC_FLAG, where) != 0) {
			return (-1);
		}
	}
	return (0);
}

int
sf_config_load(sf_config *cfg, const sf_opt_table *t, void *fields, int argc,
    char **argv, int first, FILE *out, FILE *err)
{
	loader      l;
	const char *config = NULL;
	int         rv;

	memset(cfg, 0, sizeof(*cfg));
	cfg->c_table = t;
	cfg->c_src   = calloc(t->t_nopts, sizeof(*cfg->c_src));
	l.l_list_src = calloc(t->t_nopts, sizeof(int));
	l.l_cfg      = cfg;
	l.l_fields   = fields;
	l.l_err      = err;
	if (cfg->c_src == NULL || l.l_list_src == NULL) {
		free(l.l_list_src);
		fprintf(err, "%s: out of memory\n", t->t_prog);
		return (-1);
	}
	// Find --config (and answer --help) before anything is applied, so
	// the file can sit below the environment and the flags.
	if ((rv = load_flags(&l, argc, argv, first, false, &config, out))
	    != 0) {
		goto done;
	}
	if (config == NULL && t->t_file) {
		const char *env;
		config = env_value(t, config_env(t), &env, err);
	}
	if ((rv = load_defaults(&l)) != 0
	    || (t->t_file && config != NULL
	        && (rv = load_file(&l, config)) != 0)
	    || (rv = load_env(&l)) != 0
	    || (rv = load_flags(&l, argc, argv, first, true, &config, out))
	        != 0) {
		goto done;
	}
done:
	free(l.l_list_src);
	return (rv);
}

int
sf_config_main(sf_config *cfg, const sf_opt_table *t, void *fields, int argc,
    char **argv, sf_config_check_fn check)
{
	long idx = find_opt(t, "check-config", strlen("check-config"));
	int  rv;

	if ((rv = sf_config_load(
	         cfg, t, fields, argc, argv, 1, stdout, stderr))
	        != 0
	    || (check != NULL && (rv = check(cfg, fields)) != 0)
	    || (t->t_derive != NULL && (rv = t->t_derive(cfg, fields)) != 0)) {
		sf_config_fini(cfg);
		return (rv > 0 ? 0 : 2);
	}
	if (idx >= 0 && t->t_opts[idx].o_type == SF_OPT_BOOL
	    && *(
	        const bool *) ((const char *) fields + t->t_opts[idx].o_off)) {
		sf_config_dump(cfg, fields, stdout);
		sf_config_fini(cfg);
		return (0);
	}
	return (-1);
}

void
sf_config_fini(sf_config *cfg)
{
	for (size_t i = 0; i < cfg->c_nkeep; i++) {
		free(cfg->c_keep[i]);
	}
	free(cfg->c_keep);
	free(cfg->c_src);
	memset(cfg, 0, sizeof(*cfg));
}

int
sf_config_derive(
    sf_config *cfg, void *fields, const char *name, const char *value)
{
	const sf_opt_table *t   = cfg->c_table;
	long                idx = find_opt(t, name, strlen(name));
	loader              l;
	char               *copy, *tok, *rest;
	int                 rv = 0;

	if (idx < 0 || cfg->c_src == NULL) {
		fprintf(
		    stderr, "%s: no option %s to derive\n", t->t_prog, name);
		return (-1);
	}
	if (strcmp(cfg->c_src[idx].s_where, "default") != 0) {
		return (0); // a source set it: that is the value in effect
	}
	if ((copy = keep(cfg, strdup(value))) == NULL
	    || (l.l_list_src = calloc(t->t_nopts, sizeof(int))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", t->t_prog);
		return (-1);
	}
	l.l_cfg    = cfg;
	l.l_fields = fields;
	l.l_err    = stderr;
	char where[sizeof(cfg->c_src[0].s_where)];
	snprintf(where, sizeof(where), "default: %s",
	    t->t_opts[idx].o_def_text != NULL ? t->t_opts[idx].o_def_text
	                                      : "derived");
	if (t->t_opts[idx].o_type != SF_OPT_LIST) {
		rv = set_value(&l, (size_t) idx, copy, SRC_DEFAULT, where);
	} else {
		l.l_list_src[idx] = -1; // replace whatever is there
		rest              = copy;
		while (rv == 0 && (tok = strsep(&rest, ",")) != NULL) {
			tok = trim(tok);
			if (*tok != '\0') {
				rv = set_value(
				    &l, (size_t) idx, tok, SRC_DEFAULT, where);
			}
		}
	}
	free(l.l_list_src);
	return (rv);
}

const char *
sf_config_where(const sf_config *cfg, const char *name)
{
	long idx = find_opt(cfg->c_table, name, strlen(name));
	if (idx < 0 || cfg->c_src == NULL) {
		return ("default");
	}
	return (cfg->c_src[idx].s_where);
}

void
sf_config_dump(const sf_config *cfg, const void *fields, FILE *f)
{
	const sf_opt_table *t = cfg->c_table;
	for (size_t i = 0; i < t->t_nopts; i++) {
		const sf_opt *o     = &t->t_opts[i];
		const char   *field = (const char *) fields + o->o_off;
		const char   *where = cfg->c_src[i].s_where;
		switch (o->o_type) {
		case SF_OPT_STRING: {
			const char *v = *(const char *const *) field;
			fprintf(f, "%s%s = %s", v == NULL ? "# " : "",
			    o->o_name, sf_nz(v));
			break;
		}
		case SF_OPT_LIST: {
			const sf_opt_list *l = (const sf_opt_list *) field;
			if (l->l_n == 0) {
				fprintf(f, "# %s = (%s)", o->o_name,
				    o->o_def_text != NULL ? o->o_def_text
				                          : "none");
			}
			for (size_t k = 0; k < l->l_n; k++) {
				fprintf(f, "%s%s = %s", k ? "\n" : "",
				    o->o_name, l->l_items[k]);
			}
			break;
		}
		case SF_OPT_INT:
			fprintf(
			    f, "%s = %ld", o->o_name, *(const long *) field);
			break;
		case SF_OPT_BOOL:
			fprintf(f, "%s = %s", o->o_name,
			    *(const bool *) field ? "true" : "false");
			break;
		}
		fprintf(f, "  # %s\n", where);
	}
}

void
sf_config_usage(const sf_opt_table *t, FILE *f)
{
	fprintf(f, "%s\nflags (environment variable; default):\n", t->t_usage);
	for (size_t i = 0; i < t->t_nopts; i++) {
		const sf_opt *o   = &t->t_opts[i];
		const char   *def = o->o_def_text != NULL ? o->o_def_text
		      : o->o_def != NULL                  ? o->o_def
		                                          : "none";
		fprintf(f, "  --%s%s\n      %s\n      (%s; default: %s)\n",
		    o->o_name, o->o_type == SF_OPT_BOOL ? "" : " VALUE",
		    o->o_help, o->o_env, def);
	}
	fprintf(f,
	    "  --help\n      this text\n  --version\n      print the "
	    "version\n");
	if (t->t_file) {
		fprintf(f,
		    "\nThe file named by --config (or %s) holds "
		    "\"name = value\" lines,\none option each, with the names "
		    "above; \"#\" starts a comment. The "
		    "environment\noverrides "
		    "the file and flags override both.\n",
		    config_env(t));
	}
	if (t->t_nrenamed_flags > 0) {
		fprintf(f,
		    "\nRenamed flags (and configuration file names), still "
		    "taken (with a warning):\n");
		for (size_t i = 0; i < t->t_nrenamed_flags; i++) {
			fprintf(f, "  --%s: now --%s\n",
			    t->t_renamed_flags[i].rf_old,
			    t->t_renamed_flags[i].rf_name);
		}
	}
	if (t->t_nrenamed > 0) {
		fprintf(f,
		    "\nRenamed environment variables, still read (with a "
		    "warning) when the new\nname is not set:\n");
		for (size_t i = 0; i < t->t_nrenamed; i++) {
			fprintf(f, "  %s: now %s\n", t->t_renamed[i].r_old,
			    t->t_renamed[i].r_env);
		}
	}
}

bool
sf_opt_check_log_level(const char *v, sf_buf *why)
{
	if (sf_log_level_parse(v) < 0) {
		sf_buf_puts(why, "want debug, info, warn or error");
		return (false);
	}
	return (true);
}

bool
sf_opt_check_http(const char *v, sf_buf *why)
{
	sf_status st;
	bool      ok;
	if (strcmp(v, "off") == 0) {
		return (true);
	}
	sf_status_init(&st);
	ok = sf_http_parse_addr(v, true, NULL, &st) == 0;
	if (!ok) {
		sf_buf_puts(why, st.st_msg);
	}
	sf_status_fini(&st);
	return (ok);
}

bool
sf_opt_check_duration(const char *v, sf_buf *why)
{
	int64_t ms;
	if (sf_duration_parse(v, &ms) != 0 || ms < 1000) {
		sf_buf_puts(why,
		    "want a duration of at least 1s, such as 30d, 12h or 90s");
		return (false);
	}
	return (true);
}
