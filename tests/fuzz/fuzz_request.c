// fuzz_request.c: every request message of svcfleet.proto through the
// server's dispatch. The first byte picks the method (from the generated
// service descriptors, so a new method is fuzzed without a change here),
// the second who calls (admin, an ns-view user, nobody); the rest is the
// payload, wrapped in a well-formed envelope so the fuzzer's effort goes
// into the request messages, their handlers and the store.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_server.h"
#include "svcfleet.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tokens[]
	    = {FZ_TOKEN_ADMIN, FZ_TOKEN_VIEW, "", "sfk_nobody_x"};
	const ProtobufCMessageDescriptor *in, *out;
	Svcfleet__V1__RequestEnvelope     env
	    = SVCFLEET__V1__REQUEST_ENVELOPE__INIT;
	uint8_t *buf;
	size_t   n;
	char     rid[24];

	if (size < 2) {
		return (0);
	}
	fz_server_start();
	env.method = (char *) fz_method(data[0], &in, &out);
	env.token  = (char *) tokens[data[1] % 4];
	// Writes are deduplicated by request id: some inputs reuse one.
	snprintf(rid, sizeof(rid), "fz-%u", (unsigned) (data[1] >> 2));
	env.request_id   = (data[1] & 0x80) ? rid : "";
	env.timeout_ms   = 300; // long polls end quickly
	env.payload.data = (uint8_t *) data + 2;
	env.payload.len  = size - 2;
	n = svcfleet__v1__request_envelope__get_packed_size(&env);
	if ((buf = malloc(n)) == NULL) {
		return (0);
	}
	svcfleet__v1__request_envelope__pack(&env, buf);
	fz_call(buf, n, out);
	free(buf);
	return (0);
}
