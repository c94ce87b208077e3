// kf_http.h: the HTTP servers — libmicrohttpd (kf_http.c) behind the TLS
// front end (kf_front.c) that owns the listening socket and speaks HTTP/2
// and HTTP/1.1.
#ifndef KF_HTTP_H
#define KF_HTTP_H

#include <netinet/in.h>

struct MHD_Daemon;

// kf_http_start starts libmicrohttpd on a pool of threads, listening on a
// new abstract unix socket whose name (without the leading NUL) it writes
// to name; kf_front.c also hands it connections. Returns NULL on failure.
// Stop it with MHD_stop_daemon (which closes that socket).
struct MHD_Daemon *kf_http_start(int threads, char *name, size_t cap);

// kf_front_start listens on sa (port 0 picks one, returned in *port) with
// PEM cert and key, negotiating h2 or http/1.1 by ALPN, and serves through
// d. Returns 0 or -1.
int kf_front_start(const struct sockaddr_in *sa, const char *cert,
    const char *key, struct MHD_Daemon *d, const char *name, int *port);
// kf_front_stop closes the listening socket, sends GOAWAY on every h2
// connection, closes every connection and joins their threads. Call it
// with kf_st.st_stopping set, before MHD_stop_daemon.
void kf_front_stop(void);

#endif // KF_HTTP_H
