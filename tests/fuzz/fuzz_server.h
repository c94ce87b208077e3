// fuzz_server.h: a real svcfleetd server inside the fuzzing process, and
// calls into it. The fuzz targets reach the server the way clients do —
// a packed envelope on an nng REQ socket (inproc://) — so what is fuzzed
// is exactly the production path (envelope decode, method table,
// authentication, authorization, dedupe, handlers, the store's writer),
// with no test-only entry point compiled into svcfleetd.
#ifndef SF_FUZZ_SERVER_H
#define SF_FUZZ_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

// Static tokens the server accepts (its --token-auth-file): an admin, and a
// user bound to ns-view in east/default; anything else is unauthenticated.
#define FZ_TOKEN_ADMIN "fuzz-admin-token"
#define FZ_TOKEN_VIEW  "fuzz-viewer-token"

// fz_server_start starts the server once (later calls do nothing).
void fz_server_start(void);

// fz_call sends bytes as one request and checks the reply: it must come
// (within seconds, unless the request is a long poll), decode as a reply
// envelope with a known status code, and, when OK, carry a payload that
// decodes as out (NULL: any). Aborts (the fuzzer's crash) otherwise.
void fz_call(
    const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *out);

// fz_method returns the i-th method of the proto's services (i modulo
// their number): its path, its input and output descriptors.
const char *fz_method(unsigned i, const ProtobufCMessageDescriptor **in,
    const ProtobufCMessageDescriptor **out);

#endif // SF_FUZZ_SERVER_H
