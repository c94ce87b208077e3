// sec_http.h: what the HTTP security tests (issue 17) share — raw HTTP
// over a TCP connection from a chosen loopback source address, so a test
// can send what curl never would (two Content-Lengths, a request that
// trickles in) and see exactly what the server answers, or whether it
// hangs up.
#ifndef SF_TEST_SEC_HTTP_H
#define SF_TEST_SEC_HTTP_H

#include <stdbool.h>
#include <stddef.h>

// sh_port returns the port of an "http://127.0.0.1:PORT" URL (0: none).
unsigned sh_port(const char *url);

// sh_connect opens a TCP connection to 127.0.0.1:port from source
// address src ("127.0.0.2"; NULL: any). Returns the descriptor or -1.
int sh_connect(unsigned port, const char *src);

// sh_send writes all of text; false when the connection is gone.
bool sh_send(int fd, const char *text, size_t len);

// sh_read reads what the server sends until it closes the connection, a
// complete response has arrived (head and Content-Length body), or
// timeout_ms passes. Returns the text (malloc'd, NUL-terminated, "" when
// nothing came); *closed says whether the server closed the connection.
char *sh_read(int fd, int timeout_ms, bool *closed);

// sh_request connects (from src), sends req, reads the answer as
// sh_read does and closes. Returns the HTTP status (0: no answer) and,
// when body is not NULL, the whole answer (malloc'd).
int sh_request(unsigned port, const char *src, const char *req, int timeout_ms,
    char **answer);

// sh_status returns the status code of a response text, 0 if none.
int sh_status(const char *answer);

// sh_now_ms: a monotonic clock in milliseconds.
long long sh_now_ms(void);

#endif // SF_TEST_SEC_HTTP_H
