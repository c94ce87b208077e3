// secrets.c: the secret key file and `svcfleetd rotate-secret-key`.
//
// Rotation is offline on purpose: it runs while svcfleetd is stopped (the
// store's directory lock refuses it otherwise), re-seals every credential
// in one transaction and rewrites the file compacted. One key is in force
// at any moment, so there is no window where a daemon holds a key the
// store no longer matches, and nothing sealed with the old key remains in
// data.mdb afterwards. Credentials are a handful of records, so the
// outage is the time to restart the daemon.
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "log.h"

char *
sf_secret_key_path(const char *path, const char *data_dir)
{
	char *p = NULL;
	if (path != NULL && path[0] != '\0') {
		return (strdup(path));
	}
	if (asprintf(&p, "%s/%s", data_dir, SF_SECRET_KEY_FILE_DEFAULT) < 0) {
		return (NULL);
	}
	return (p);
}

// mkdir -p with mode 0700 for the directories above path.
static int
make_parents(const char *path)
{
	char *dup = strdup(path), *slash;
	int   rv  = 0;

	if (dup == NULL) {
		return (-1);
	}
	if ((slash = strrchr(dup, '/')) == NULL || slash == dup) {
		free(dup);
		return (0);
	}
	*slash = '\0';
	for (char *p = dup + 1; rv == 0; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p     = '\0';
			if (mkdir(dup, 0700) != 0 && errno != EEXIST) {
				rv = -1;
			}
			*p = c;
			if (c == '\0') {
				break;
			}
		}
	}
	free(dup);
	return (rv);
}

static int
create_key(const char *path, sf_status *st)
{
	uint8_t key[SF_STORE_SECRET_KEY_LEN];
	char    text[64];
	int     fd, n;

	if (make_parents(path) != 0) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "cannot create the directory of secret key file %s: %s",
		    path, strerror(errno)));
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		return (sf_status_set(
		    st, SF_INTERNAL, "no randomness for a secret key"));
	}
	n = (int) sf_base64_encode(text, key, sizeof(key), 0);
	OPENSSL_cleanse(key, sizeof(key));
	text[n++] = '\n';
	fd        = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(text, sizeof(text));
		return (sf_status_set(st,
		    errno == EACCES ? SF_PERMISSION_DENIED
		                    : SF_FAILED_PRECONDITION,
		    "cannot create secret key file %s: %s", path,
		    strerror(errno)));
	}
	bool ok = write(fd, text, (size_t) n) == n && fsync(fd) == 0;
	int  e  = errno;
	close(fd);
	OPENSSL_cleanse(text, sizeof(text));
	if (!ok) {
		unlink(path);
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "cannot write secret key file %s: %s", path, strerror(e)));
	}
	// The new name must survive a crash too.
	char *dir = strdup(path), *slash;
	if (dir != NULL && (slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY))
		    >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	free(dir);
	return (0);
}

// Decodes the base64 text of a key file (surrounding blanks and the line
// end allowed); -1 unless it is exactly 32 bytes.
static int
decode_key(const char *text, size_t len, uint8_t key[SF_STORE_SECRET_KEY_LEN])
{
	uint8_t buf[64];
	ssize_t n;

	while (len > 0
	    && (text[len - 1] == '\n' || text[len - 1] == '\r'
	        || text[len - 1] == ' ' || text[len - 1] == '\t')) {
		len--;
	}
	while (len > 0 && (*text == ' ' || *text == '\t')) {
		text++;
		len--;
	}
	n = sf_base64_decode(buf, sizeof(buf), text, len, 0);
	if (n != SF_STORE_SECRET_KEY_LEN) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return (-1);
	}
	memcpy(key, buf, SF_STORE_SECRET_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return (0);
}

int
sf_secret_key_load(const char *path, bool create,
    uint8_t key[SF_STORE_SECRET_KEY_LEN], bool *created, sf_status *st)
{
	struct stat sb;
	char        text[256];
	ssize_t     n;
	int         fd, rv;

	if (created != NULL) {
		*created = false;
	}
	if (stat(path, &sb) != 0 && errno == ENOENT) {
		if (!create) {
			return (sf_status_set(st, SF_NOT_FOUND,
			    "secret key file %s does not exist", path));
		}
		if ((rv = create_key(path, st)) != 0) {
			return (rv);
		}
		if (created != NULL) {
			*created = true;
		}
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return (sf_status_set(st,
		    errno == EACCES ? SF_PERMISSION_DENIED
		                    : SF_FAILED_PRECONDITION,
		    "cannot open secret key file %s: %s", path,
		    strerror(errno)));
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0) {
		SF_WARN("secrets",
		    "secret key file %s is readable by other users (mode "
		    "%03o); chmod 600 it",
		    path, (unsigned) (sb.st_mode & 0777));
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0) {
		return (sf_status_set(st, SF_FAILED_PRECONDITION,
		    "cannot read secret key file %s: %s", path,
		    strerror(errno)));
	}
	rv = decode_key(text, (size_t) n, key);
	OPENSSL_cleanse(text, sizeof(text));
	if (rv != 0) {
		return (sf_status_set(st, SF_INVALID_ARGUMENT,
		    "secret key file %s must hold 32 bytes in base64 on one "
		    "line (make one with: head -c 32 /dev/urandom | base64)",
		    path));
	}
	return (0);
}

// ------------------------------------------------------------- rotation

static void
rotate_usage(FILE *f)
{
	fprintf(f,
	    "usage: svcfleetd rotate-secret-key [--data-dir DIR] "
	    "[--secret-key-file OLD] --new-key-file NEW\n\n"
	    "Seals every cluster credential in the store again with the key "
	    "in NEW\n(created, mode 0600, when it does not exist) and "
	    "rewrites the store\ncompacted, so nothing sealed with the old "
	    "key stays in the file.\nRun it while svcfleetd is stopped; then "
	    "start svcfleetd with\n--secret-key-file NEW.\n\n"
	    "  --data-dir DIR          the store (SVCFLEETD_DATA_DIR, default "
	    "./svcfleet-data)\n"
	    "  --secret-key-file OLD   its current key "
	    "(SVCFLEETD_SECRET_KEY_FILE,\n"
	    "                          default DIR/secret.key)\n"
	    "  --new-key-file NEW      the key to seal with from now on\n");
}

// daemon_env (issue 20) reads svcfleetd's variable SVCFLEETD_name, or its
// former name SVCFLEET_name with a warning (DESIGN §8).
static const char *
daemon_env(const char *name)
{
	char        var[64];
	const char *v;
	snprintf(var, sizeof(var), "SVCFLEETD_%s", name);
	if ((v = getenv(var)) != NULL && v[0] != '\0') {
		return (v);
	}
	snprintf(var, sizeof(var), "SVCFLEET_%s", name);
	if ((v = getenv(var)) != NULL && v[0] != '\0') {
		fprintf(stderr,
		    "svcfleetd rotate-secret-key: warning: %s is deprecated "
		    "and will stop working in a later release: set "
		    "SVCFLEETD_%s instead\n",
		    var, name);
		return (v);
	}
	return (NULL);
}

int
sf_secrets_rotate_main(int argc, char **argv)
{
	const char *dir     = daemon_env("DATA_DIR");
	const char *old     = daemon_env("SECRET_KEY_FILE");
	const char *nu      = NULL;
	char       *oldpath = NULL;
	uint8_t   okey[SF_STORE_SECRET_KEY_LEN], nkey[SF_STORE_SECRET_KEY_LEN];
	bool      created = false;
	sf_status st;
	sf_store_opts so = {0};
	uint64_t      n  = 0;
	int           rv, code = 1;

	if (dir == NULL || dir[0] == '\0') {
		dir = "./svcfleet-data";
	}
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL;
		const char  *arg  = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			rotate_usage(stdout);
			return (0);
		}
		if (strcmp(arg, "--data-dir") == 0) {
			slot = &dir;
		} else if (strcmp(arg, "--secret-key-file") == 0) {
			slot = &old;
		} else if (strcmp(arg, "--new-key-file") == 0) {
			slot = &nu;
		} else {
			fprintf(stderr,
			    "svcfleetd rotate-secret-key: unknown argument "
			    "\"%s\" (see --help)\n",
			    arg);
			return (2);
		}
		if (i + 1 >= argc) {
			fprintf(stderr,
			    "svcfleetd rotate-secret-key: %s needs a value\n",
			    arg);
			return (2);
		}
		*slot = argv[++i];
	}
	if (nu == NULL || nu[0] == '\0') {
		fprintf(stderr,
		    "svcfleetd rotate-secret-key: --new-key-file is "
		    "required\n");
		rotate_usage(stderr);
		return (2);
	}
	sf_status_init(&st);
	if ((oldpath = sf_secret_key_path(old, dir)) == NULL) {
		fprintf(
		    stderr, "svcfleetd rotate-secret-key: out of memory\n");
		return (1);
	}
	if ((rv = sf_secret_key_load(oldpath, false, okey, NULL, &st)) != 0
	    || (rv = sf_secret_key_load(nu, true, nkey, &created, &st)) != 0) {
		goto out;
	}
	if (memcmp(okey, nkey, sizeof(okey)) == 0) {
		sf_status_set(&st, SF_INVALID_ARGUMENT,
		    "%s holds the same key as %s", nu, oldpath);
		goto out;
	}
	so.so_dir        = dir;
	so.so_secret_key = okey;
	if ((rv = sf_store_rekey(&so, nkey, &n, &st)) != 0) {
		goto out;
	}
	printf("re-sealed the credentials of %" PRIu64
	       " cluster(s) in %s with the key in %s%s;\nstart svcfleetd "
	       "with --secret-key-file %s (the old key is no longer "
	       "needed)\n",
	    n, dir, nu, created ? " (new)" : "", nu);
	code = 0;
out:
	if (code != 0) {
		fprintf(stderr, "svcfleetd rotate-secret-key: %s: %s\n",
		    sf_status_name(st.st_code), st.st_msg);
		if (created) {
			// Nothing was sealed with it: do not leave a key that
			// looks in use.
			unlink(nu);
		}
	}
	OPENSSL_cleanse(okey, sizeof(okey));
	OPENSSL_cleanse(nkey, sizeof(nkey));
	free(oldpath);
	sf_status_fini(&st);
	return (code);
}
