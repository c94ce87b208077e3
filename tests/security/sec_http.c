// sec_http.c: raw HTTP for the security tests (sec_http.h).
#include "sec_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long
sh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

unsigned
sh_port(const char *url)
{
	const char *c = strrchr(url, ':');
	return (c != NULL ? (unsigned) strtoul(c + 1, NULL, 10) : 0);
}

int
sh_connect(unsigned port, const char *src)
{
	struct sockaddr_in sa = {0};
	int                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return (-1);
	}
	if (src != NULL) {
		struct sockaddr_in b = {0};
		b.sin_family         = AF_INET;
		inet_pton(AF_INET, src, &b.sin_addr);
		if (bind(fd, (struct sockaddr *) &b, sizeof(b)) != 0) {
			close(fd);
			return (-1);
		}
	}
	sa.sin_family = AF_INET;
	sa.sin_port   = htons((unsigned short) port);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

bool
sh_send(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return (false);
		}
		text += n;
		len -= (size_t) n;
	}
	return (true);
}

// Is text a complete response (head, and as much body as it announces)?
static bool
complete(const char *text, size_t len)
{
	const char *end = strstr(text, "\r\n\r\n");
	const char *cl;
	if (end == NULL) {
		return (false);
	}
	for (cl = text; cl < end; cl++) {
		if (strncasecmp(cl, "\r\nContent-Length:", 17) == 0) {
			size_t want = strtoul(cl + 17, NULL, 10);
			return (len >= (size_t) (end + 4 - text) + want);
		}
	}
	return (false);
}

char *
sh_read(int fd, int timeout_ms, bool *closed)
{
	size_t    cap = 1 << 16, len = 0;
	char     *buf      = calloc(1, cap + 1);
	long long deadline = sh_now_ms() + timeout_ms;
	*closed            = false;
	while (buf != NULL) {
		long long     left = deadline - sh_now_ms();
		struct pollfd p    = {fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, (int) left) <= 0) {
			break;
		}
		if (len == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (nb == NULL) {
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0) {
			*closed = true;
			break;
		}
		len += (size_t) n;
		buf[len] = '\0';
		if (complete(buf, len)) {
			break;
		}
	}
	return (buf);
}

int
sh_status(const char *answer)
{
	int code = 0;
	if (answer != NULL && sscanf(answer, "HTTP/1.%*d %d", &code) == 1) {
		return (code);
	}
	return (0);
}

int
sh_request(unsigned port, const char *src, const char *req, int timeout_ms,
    char **answer)
{
	int   fd = sh_connect(port, src);
	bool  closed;
	char *text;
	int   code;
	if (answer != NULL) {
		*answer = NULL;
	}
	if (fd < 0) {
		return (0);
	}
	if (!sh_send(fd, req, strlen(req))) {
		close(fd);
		return (0);
	}
	text = sh_read(fd, timeout_ms, &closed);
	close(fd);
	code = sh_status(text);
	if (answer != NULL) {
		*answer = text;
	} else {
		free(text);
	}
	return (code);
}
