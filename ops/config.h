// config.h: one declarative option table drives a daemon's flags, its
// SVCFLEET_* environment variables, its optional configuration file,
// --help and the validation of every value (STYLE rule 12).
//
// Sources, lowest precedence first: the table's defaults, the file named
// by --config (or SVCFLEET_CONFIG), the environment, the command line. A
// list option (--listen) takes its whole list from the highest source that
// sets it. A bad value stops start-up with one line naming the option and
// where the value came from:
//
//   svcfleetd: /etc/svcfleet/svcfleetd.conf:7: invalid value "x" for
//   workers: want an integer from 1 to 256
//
// The file holds one "name = value" per line (the flag's name without
// "--"; the value may be double-quoted; "#" starts a comment line):
//
//   data-dir = /var/lib/svcfleet
//   listen   = tcp://0.0.0.0:7070
//   listen   = ipc:///run/svcfleet/svcfleet.sock
//   http     = 0.0.0.0:7071
//
// svcfleetd's table is in main.c; svcfleet-reconciler can use the same
// engine with a table of its own.
#ifndef SF_CONFIG_H
#define SF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"

enum sf_opt_type {
	SF_OPT_STRING, // const char * (NULL when unset)
	SF_OPT_LIST,   // sf_opt_list
	SF_OPT_INT,    // long, within [o_min, o_max]
	SF_OPT_BOOL,   // bool: true/false/1/0/yes/no; a bare flag is true
};

#define SF_OPT_LIST_MAX 16

typedef struct sf_opt_list {
	const char *l_items[SF_OPT_LIST_MAX];
	size_t      l_n;
} sf_opt_list;

// A value check beyond the type's: returns true when v is fine, else
// false with the reason in why ("want debug, info, warn or error").
typedef bool (*sf_opt_check_fn)(const char *v, sf_buf *why);

typedef struct sf_opt {
	const char     *o_name; // flag without "--", and the file's key
	const char     *o_env;  // environment variable
	int             o_type; // enum sf_opt_type
	const char     *o_def;  // default value as text, NULL: none
	const char     *o_help; // one sentence for --help
	size_t          o_off;  // offsetof the field in the caller's struct
	long            o_min, o_max; // SF_OPT_INT bounds
	sf_opt_check_fn o_check;      // may be NULL
	const char     *o_def_text;   // --help's "default" when o_def can't
	                              // say it (NULL: o_def or "none")
} sf_opt;

typedef struct sf_opt_table {
	const char   *t_prog;  // "svcfleetd": prefix of every message
	const char   *t_usage; // usage line(s) and a paragraph for --help
	const sf_opt *t_opts;
	size_t        t_nopts;
	bool          t_file; // --config / SVCFLEET_CONFIG supported
} sf_opt_table;

// Where one option's value came from, for messages after loading.
typedef struct sf_opt_src {
	char s_where[300]; // "--http", "SVCFLEET_HTTP", "/etc/x.conf:3",
	                   // "default"
} sf_opt_src;

// Loaded values keep the memory they point into (file text, copies).
typedef struct sf_config {
	const sf_opt_table *c_table;
	sf_opt_src         *c_src; // one per option
	char              **c_keep;
	size_t              c_nkeep;
	const char         *c_file; // the configuration file used, or NULL
} sf_config;

// sf_config_load fills *cfgp (the struct the table's offsets point into)
// from defaults, file, environment and argv[first..argc). Returns 0; 1
// when --help or --version was answered on out (exit 0); -1 after writing
// one line saying what is wrong on err (exit 2). Free with
// sf_config_fini either way.
int sf_config_load(sf_config *cfg, const sf_opt_table *t, void *fields,
    int argc, char **argv, int first, FILE *out, FILE *err);

void sf_config_fini(sf_config *cfg);

// sf_config_where says where option name got its value ("default" when
// nowhere), for messages of later cross-field checks.
const char *sf_config_where(const sf_config *cfg, const char *name);

// sf_config_dump writes every option's value in effect as a config file
// line ("name = value"), with where it came from in a comment.
void sf_config_dump(const sf_config *cfg, const void *fields, FILE *f);

// sf_config_usage writes --help: usage, then every option with its
// environment variable, default and help.
void sf_config_usage(const sf_opt_table *t, FILE *f);

// Checks for common value kinds.
bool sf_opt_check_log_level(const char *v, sf_buf *why);
bool sf_opt_check_duration(const char *v, sf_buf *why); // "30s", "90d"

#endif // SF_CONFIG_H
