// str.h: small string helpers every module needs.
#ifndef SF_STR_H
#define SF_STR_H

#include <stdbool.h>
#include <stddef.h>

// sf_nz returns s, or "" for NULL: protobuf-c leaves unset strings NULL
// (or points them at protobuf_c_empty_string), and printf's %s, strcmp and
// strlen want a string.
static inline const char *
sf_nz(const char *s)
{
	return (s != NULL ? s : "");
}

#endif // SF_STR_H
