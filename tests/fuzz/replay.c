// replay.c: runs a fuzz target over files instead of under libFuzzer, so
// every build (plain, ASan/UBSan, valgrind, TSan) replays the committed
// corpora and the targets never stop compiling:
//   fuzz_<name> FILE-OR-DIR...
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE    *f = fopen(path, "rb");
	uint8_t *buf;
	long     n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
	    || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		if (f != NULL) {
			fclose(f);
		}
		return (1);
	}
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		fclose(f);
		free(buf);
		return (1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t) n);
	free(buf);
	return (0);
}

int
main(int argc, char **argv)
{
	int runs = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "replay: no such file %s\n", argv[i]);
			return (1);
		}
		if (!S_ISDIR(sb.st_mode)) {
			bad += run_file(argv[i]);
			runs++;
			continue;
		}
		struct dirent **names;
		int             n = scandir(argv[i], &names, NULL, alphasort);
		for (int k = 0; k < n; k++) {
			char path[4096];
			if (names[k]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i],
				    names[k]->d_name);
				bad += run_file(path);
				runs++;
			}
			free(names[k]);
		}
		free(names);
	}
	printf("replay: %d inputs, %d unreadable\n", runs, bad);
	return (bad == 0 && runs > 0 ? 0 : 1);
}
