// fuzz_kubeconfig.c: kubeconfig files as `svcfleet cluster add
// --kubeconfig` reads them (sf_kube_kubeconfig_load, kube/kubeconfig.c):
// YAML or JSON, the current or a named context, inline or file-referenced
// CA, certificate, key and token. It never crashes, and a rejection is a
// status with a message, never success with half-filled credentials.
//
// Files the input names are opened as they would be; in a fuzzing run
// they are relative to a private directory holding a few real ones
// (ca.crt, token) and nothing the fuzzer could hang on.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube.h"

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
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool           ready;
	sf_arena              a;
	sf_status             st;
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
	sf_arena_init(&a);
	sf_status_init(&st);
	int rv = sf_kube_kubeconfig_load(path,
	    size > 0 && data[0] == '#' ? "other" : NULL, size % 2, &a, &cl,
	    &st);
	if (rv == 0 && (cl.api_server == NULL || cl.api_server[0] == '\0')) {
		fprintf(stdout, "fuzz: accepted without an API server\n");
		abort();
	}
	if (rv != 0 && (st.st_code != rv || st.st_msg[0] == '\0')) {
		fprintf(stdout, "fuzz: rejected (%d) without a message\n", rv);
		abort();
	}
	if (getenv("FZ_VERBOSE") != NULL && rv != 0) {
		fprintf(stderr, "%s\n", st.st_msg);
	}
	sf_status_fini(&st);
	sf_arena_fini(&a);
	return (0);
}
