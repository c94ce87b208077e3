// backup.c: svcfleetd backup / restore (see backup.h).
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "ops.h"
#include "log.h"
#include "store.h"

#define MAXDBS       32  // as the store opens it
#define MAXREADERS   512 // as the store opens it
#define RESIZE_TRIES 8

typedef struct bk_config {
	const char *data_dir;
	const char *out;
	const char *in;
	bool        force;
} bk_config;

static const sf_opt backup_opts[] = {
    {"data-dir", "SVCFLEETD_DATA_DIR", SF_OPT_STRING, "./svcfleet-data",
        "the store to back up (svcfleetd may be running on it)",
        offsetof(bk_config, data_dir), 0, 0, NULL, NULL},
    {"out", "SVCFLEETD_BACKUP_OUT", SF_OPT_STRING, NULL,
        "file to write (replaced atomically), or - for standard output; "
        "required",
        offsetof(bk_config, out), 0, 0, NULL, NULL},
};

static const sf_opt restore_opts[] = {
    {"in", "SVCFLEETD_BACKUP_IN", SF_OPT_STRING, NULL,
        "a file written by svcfleetd backup, or - for standard input; "
        "required",
        offsetof(bk_config, in), 0, 0, NULL, NULL},
    {"data-dir", "SVCFLEETD_DATA_DIR", SF_OPT_STRING, "./svcfleet-data",
        "directory to restore into (created 0700); no svcfleetd may be "
        "running on it",
        offsetof(bk_config, data_dir), 0, 0, NULL, NULL},
    {"force", "SVCFLEETD_RESTORE_FORCE", SF_OPT_BOOL, "false",
        "replace a store already in --data-dir", offsetof(bk_config, force), 0,
        0, NULL, NULL},
};

// issue 20: svcfleetd's variables are SVCFLEETD_* (DESIGN §8); the former
// names are still read, with a warning.
static const sf_opt_renamed bk_renamed[] = {
    {"SVCFLEETD_DATA_DIR", "SVCFLEET_DATA_DIR"},
    {"SVCFLEETD_BACKUP_OUT", "SVCFLEET_BACKUP_OUT"},
    {"SVCFLEETD_BACKUP_IN", "SVCFLEET_BACKUP_IN"},
    {"SVCFLEETD_RESTORE_FORCE", "SVCFLEET_RESTORE_FORCE"},
};

static const sf_opt_table backup_table = {
    .t_prog     = "svcfleetd backup",
    .t_usage    = "usage: svcfleetd backup --data-dir DIR --out FILE\n\n"
                  "Writes a consistent, compacted copy of the store in DIR "
                  "to FILE. svcfleetd\nmay keep running and writing: the copy "
                  "is one read snapshot (every write\nacknowledged before the "
                  "backup started is in it). Run it as svcfleetd's user\n"
                  "on its host. The admin token file is not part of a backup.\n",
    .t_opts     = backup_opts,
    .t_nopts    = sizeof(backup_opts) / sizeof(backup_opts[0]),
    .t_renamed  = bk_renamed,
    .t_nrenamed = sizeof(bk_renamed) / sizeof(bk_renamed[0]),
};

static const sf_opt_table restore_table = {
    .t_prog     = "svcfleetd restore",
    .t_usage    = "usage: svcfleetd restore --in FILE --data-dir DIR "
                  "[--force]\n\n"
                  "Checks that FILE is a backup of a svcfleet store this "
                  "version can open, then\nputs it in DIR (a fresh directory, "
                  "or with --force one whose store it\nreplaces). svcfleetd "
                  "must not be running on DIR.\n",
    .t_opts     = restore_opts,
    .t_nopts    = sizeof(restore_opts) / sizeof(restore_opts[0]),
    .t_renamed  = bk_renamed,
    .t_nrenamed = sizeof(bk_renamed) / sizeof(bk_renamed[0]),
};

// fsyncs the directory holding path (so a rename in it is durable).
static int
sync_parent(const char *path)
{
	char tmp[PATH_MAX];
	int  fd, rv;
	snprintf(tmp, sizeof(tmp), "%s", path);
	if ((fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    < 0) {
		return (-1);
	}
	rv = fsync(fd);
	close(fd);
	return (rv);
}

// ------------------------------------------------------------------ backup

static int
do_backup(const bk_config *cfg)
{
	const char *P = "svcfleetd backup";
	char        data[PATH_MAX], tmp[PATH_MAX];
	MDB_env    *env = NULL;
	struct stat sb;
	int         fd = -1, rc = 0;
	bool        to_stdout = strcmp(cfg->out, "-") == 0;
	int64_t     t0        = sf_clock_mono_ms();

	snprintf(data, sizeof(data), "%s/data.mdb", cfg->data_dir);
	if (stat(data, &sb) != 0) {
		fprintf(stderr, "%s: no store in %s: %s\n", P, cfg->data_dir,
		    strerror(errno));
		return (1);
	}
	if ((rc = mdb_env_create(&env)) != 0
	    || (rc = mdb_env_set_maxdbs(env, MAXDBS)) != 0
	    || (rc = mdb_env_set_maxreaders(env, MAXREADERS)) != 0
	    || (rc = mdb_env_open(
	            env, cfg->data_dir, MDB_RDONLY | MDB_NOTLS, 0600))
	        != 0) {
		fprintf(stderr, "%s: cannot open the store in %s: %s\n", P,
		    cfg->data_dir, mdb_strerror(rc));
		mdb_env_close(env);
		return (1);
	}
	if (to_stdout) {
		fd = STDOUT_FILENO;
	} else {
		snprintf(
		    tmp, sizeof(tmp), "%s.tmp-%ld", cfg->out, (long) getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "%s: cannot create %s: %s\n", P, tmp,
			    strerror(errno));
			mdb_env_close(env);
			return (1);
		}
	}
	// The copy is one read transaction. When svcfleetd grew the map
	// since we opened it, LMDB says MDB_MAP_RESIZED before writing
	// anything: adopt the new size and go again.
	for (int i = 0; i < RESIZE_TRIES; i++) {
		rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
		if (rc != MDB_MAP_RESIZED) {
			break;
		}
		mdb_env_set_mapsize(env, 0);
		if (!to_stdout
		    && (ftruncate(fd, 0) != 0
		        || lseek(fd, 0, SEEK_SET) != 0)) {
			rc = errno;
			break;
		}
	}
	mdb_env_close(env);
	if (rc == 0 && !to_stdout && fsync(fd) != 0) {
		rc = errno;
	}
	off_t size = rc == 0 && !to_stdout ? lseek(fd, 0, SEEK_END) : 0;
	if (!to_stdout) {
		close(fd);
	}
	if (rc != 0) {
		fprintf(stderr, "%s: copying %s failed: %s\n", P,
		    cfg->data_dir, mdb_strerror(rc));
		if (!to_stdout) {
			unlink(tmp);
		}
		return (1);
	}
	if (!to_stdout) {
		if (rename(tmp, cfg->out) != 0) {
			fprintf(stderr, "%s: cannot rename %s to %s: %s\n", P,
			    tmp, cfg->out, strerror(errno));
			unlink(tmp);
			return (1);
		}
		sync_parent(cfg->out);
	}
	fprintf(stderr, "%s: wrote %s (%lld bytes) from %s in %lld ms\n", P,
	    to_stdout ? "standard output" : cfg->out, (long long) size,
	    cfg->data_dir, (long long) (sf_clock_mono_ms() - t0));
	return (0);
}

// ----------------------------------------------------------------- restore

// Copies in (a path or "-") to the new file path, fsynced. 0 or errno.
static int
copy_in(const char *in, const char *path)
{
	int     src = strcmp(in, "-") == 0 ? STDIN_FILENO
	                                   : open(in, O_RDONLY | O_CLOEXEC);
	int     dst = -1, rv = 0;
	char    buf[1 << 16];
	ssize_t n;

	if (src < 0) {
		return (errno);
	}
	dst = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dst < 0) {
		rv = errno;
		goto out;
	}
	while ((n = read(src, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			rv = errno;
			goto out;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(dst, buf + off, (size_t) (n - off));
			if (w < 0 && errno != EINTR) {
				rv = errno;
				goto out;
			}
			off += w > 0 ? w : 0;
		}
	}
	if (fsync(dst) != 0) {
		rv = errno;
	}
out:
	if (dst >= 0) {
		close(dst);
	}
	if (src != STDIN_FILENO) {
		close(src);
	}
	return (rv);
}

static void
remove_staging(const char *dir)
{
	static const char *const files[]
	    = {"data.mdb", "lock.mdb", "store.lock"};
	char p[PATH_MAX + 64];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static int
do_restore(const bk_config *cfg)
{
	const char    *P = "svcfleetd restore";
	char           path[PATH_MAX + 64], stage[PATH_MAX], data[PATH_MAX];
	int            lockfd, rv;
	sf_store      *store = NULL;
	sf_store_opts  so    = {0};
	sf_store_stats ss;
	sf_status      st;
	struct stat    sb;

	if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s\n", P, cfg->data_dir,
		    strerror(errno));
		return (1);
	}
	// The daemon's own lock: held, it means svcfleetd runs on the dir.
	snprintf(path, sizeof(path), "%s/store.lock", cfg->data_dir);
	lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr,
		    "%s: %s is in use by a running svcfleetd (or %s cannot be "
		    "locked: %s); stop it first\n",
		    P, cfg->data_dir, path, strerror(errno));
		if (lockfd >= 0) {
			close(lockfd);
		}
		return (1);
	}
	snprintf(data, sizeof(data), "%s/data.mdb", cfg->data_dir);
	if (stat(data, &sb) == 0 && !cfg->force) {
		fprintf(stderr,
		    "%s: %s already holds a store; restore into a fresh "
		    "directory, or pass --force to replace it\n",
		    P, cfg->data_dir);
		close(lockfd);
		return (1);
	}
	snprintf(stage, sizeof(stage), "%s/.restore-XXXXXX", cfg->data_dir);
	if (mkdtemp(stage) == NULL) {
		fprintf(stderr,
		    "%s: cannot make a staging directory in %s: %s\n", P,
		    cfg->data_dir, strerror(errno));
		close(lockfd);
		return (1);
	}
	snprintf(path, sizeof(path), "%s/data.mdb", stage);
	if ((rv = copy_in(cfg->in, path)) != 0) {
		fprintf(stderr, "%s: cannot copy %s: %s\n", P, cfg->in,
		    strerror(rv));
		goto fail;
	}
	// Open the staged copy as svcfleetd would: a file that is not a
	// store, or one of a newer schema, is refused here, before anything
	// in the data directory changes.
	sf_status_init(&st);
	so.so_dir = stage;
	// Cluster credentials stay sealed with the key of the store the
	// backup came from (never part of a backup): that key file goes
	// with the restored directory.
	so.so_sealed_ok = true;
	if (sf_store_open(&store, &so, &st) != 0) {
		fprintf(stderr, "%s: %s is not a usable svcfleet backup: %s\n",
		    P, cfg->in, st.st_msg);
		sf_status_fini(&st);
		goto fail;
	}
	sf_status_fini(&st);
	sf_store_stats_get(store, &ss);
	sf_store_close(store);

	// LMDB's lock file belongs to the environment it described.
	snprintf(path, sizeof(path), "%s/lock.mdb", cfg->data_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/data.mdb", stage);
	if (rename(path, data) != 0) {
		fprintf(stderr,
		    "%s: cannot move the restored store into %s: %s\n", P,
		    data, strerror(errno));
		goto fail;
	}
	sync_parent(data);
	remove_staging(stage);
	close(lockfd);
	fprintf(stderr,
	    "%s: restored revision %" PRIu64 " (%" PRIu64
	    " Services) into %s\n",
	    P, ss.ss_revision, ss.ss_services, cfg->data_dir);
	return (0);

fail:
	remove_staging(stage);
	close(lockfd);
	return (1);
}

int
sf_backup_main(int argc, char **argv)
{
	bool                backup = strcmp(argv[0], "backup") == 0;
	const sf_opt_table *t      = backup ? &backup_table : &restore_table;
	bk_config           cfg    = {0};
	sf_config           cc;
	int                 rv;

	// Only problems are worth saying; the store's own "opened" lines
	// are not.
	sf_log_set_level(SF_LOG_WARN);
	rv = sf_config_load(&cc, t, &cfg, argc, argv, 1, stdout, stderr);
	if (rv != 0) {
		sf_config_fini(&cc);
		return (rv > 0 ? 0 : 2);
	}
	if (backup && (cfg.out == NULL || cfg.out[0] == '\0')) {
		fprintf(stderr, "%s: --out FILE is required (see --help)\n",
		    t->t_prog);
		rv = 2;
	} else if (!backup && (cfg.in == NULL || cfg.in[0] == '\0')) {
		fprintf(stderr, "%s: --in FILE is required (see --help)\n",
		    t->t_prog);
		rv = 2;
	} else {
		rv = backup ? do_backup(&cfg) : do_restore(&cfg);
	}
	sf_config_fini(&cc);
	return (rv);
}
