// kf_http.h: the HTTPS listener.
#ifndef KF_HTTP_H
#define KF_HTTP_H

#include <netinet/in.h>

struct MHD_Daemon;

// kf_http_start serves on sa (port 0 picks one, returned in *port) with
// PEM cert and key, on a pool of threads. Returns NULL on failure. Stop
// it with MHD_stop_daemon.
struct MHD_Daemon *kf_http_start(const struct sockaddr_in *sa,
    const char *cert, const char *key, int threads, int *port);

#endif // KF_HTTP_H
