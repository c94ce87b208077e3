// fuzz_kubeconfig.c: kubeconfig files as `svcfleet cluster add
// --kubeconfig` reads them (client/cli/kubeconfig.c): YAML or JSON, the
// current or a named context, inline or file-referenced CA, certificate,
// key and token. It never crashes, and a rejection is an exit code, never
// success with half-filled credentials.
//
// Files the input names are opened as they would be; in a fuzzing run
// they are relative to a private directory holding a few real ones
// (ca.crt, token) and nothing the fuzzer could hang on.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256], dir[200];

static void
cleanup(void)
{
	char        file[300];
	const char *names[] = {"kubeconfig", "token", "ca.crt"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		unlink(file);
	}
	rmdir(dir);
}

// The command line's flags (main.c, not linked): none are set here.
bool
cli_flag(const cli *c, int id)
{
	(void) c;
	(void) id;
	return (false);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/sf-fuzz-kc-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	char file[300];
	if (mkdtemp(dir) == NULL) {
		abort();
	}
	// Relative names in a kubeconfig are relative to its directory.
	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	snprintf(file, sizeof(file), "%s/token", dir);
	FILE *f = fopen(file, "w");
	fputs("a-token\n", f);
	fclose(f);
	snprintf(file, sizeof(file), "%s/ca.crt", dir);
	f = fopen(file, "w");
	fputs("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	    f);
	fclose(f);
	atexit(cleanup);
	// The CLI prints an error line per rejected input through stdio's
	// stderr: thousands per second. Point that stream (not fd 2, where
	// the sanitizers and libFuzzer report) at /dev/null.
	FILE *null = fopen("/dev/null", "w");
	if (getenv("FZ_VERBOSE") == NULL && null != NULL) {
		stderr = null;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool           ready;
	cli                   c;
	Svcfleet__V1__Cluster cl = SVCFLEET__V1__CLUSTER__INIT;

	if (!ready) {
		setup();
		ready = true;
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		abort();
	}
	fwrite(data, 1, size, f);
	fclose(f);
	memset(&c, 0, sizeof(c));
	sf_arena_init(&c.c_arena);
	int rv = cli_kubeconfig_load(&c, path,
	    size > 0 && data[0] == '#' ? "other" : NULL, size % 2, &cl);
	if (rv == 0 && (cl.api_server == NULL || cl.api_server[0] == '\0')) {
		fprintf(stdout, "fuzz: accepted without an API server\n");
		abort();
	}
	sf_arena_fini(&c.c_arena);
	return (0);
}
