// fuzz_envelope.c: arbitrary bytes as a request envelope, straight into
// svcfleetd's RPC path. Whatever arrives, the server answers with a
// well-formed reply envelope and a known status (never a crash, a hang, a
// leak, an unexplained INTERNAL or DATA_LOSS).
#include <stddef.h>
#include <stdint.h>

#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_server_start();
	fz_call(data, size, NULL);
	return (0);
}
