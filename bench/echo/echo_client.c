/*
 * echo_client.c -- a small epoll load generator for echo servers.
 *
 *   echo_client HOST PORT CONNECTIONS MSG_SIZE SECONDS
 *
 * Opens CONNECTIONS sockets; each keeps exactly one MSG_SIZE message in
 * flight (send, wait for the whole echo, send again).  Prints
 * "messages BYTES SECONDS" for the measured period.  Written for reactor's
 * bench/; level-triggered epoll, non-blocking sockets, TCP_NODELAY.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct { int fd; size_t got; } conn_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS MSG_SIZE SECONDS\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), nconn = atoi(argv[3]);
    size_t msg = (size_t)atol(argv[4]);
    double secs = atof(argv[5]);
    if (nconn <= 0 || msg == 0 || msg > 65536 || secs <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    char *out = malloc(msg), *in = malloc(65536);
    conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
    if (!out || !in || !conns) return 1;
    memset(out, 'x', msg);
    int ep = epoll_create1(0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
    for (int i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[i].fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (unsigned)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    struct epoll_event evs[1024];
    unsigned long long messages = 0, bytes = 0;
    int measuring = 0;
    double start = now(), t0 = start, end = start + 0.5 + secs;   /* 0.5 s warm-up */
    for (int i = 0; i < nconn; i++)
        if (send(conns[i].fd, out, msg, MSG_NOSIGNAL) != (ssize_t)msg) { perror("send"); return 1; }
    for (;;) {
        double t = now();
        if (!measuring && t >= start + 0.5) { measuring = 1; messages = bytes = 0; t0 = t; }
        if (t >= end) break;
        int n = epoll_wait(ep, evs, 1024, 100);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int k = 0; k < n; k++) {
            conn_t *c = &conns[evs[k].data.u32];
            ssize_t r = recv(c->fd, in, 65536, 0);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fprintf(stderr, "connection closed by server\n");
                return 1;
            }
            c->got += (size_t)r;
            while (c->got >= msg) {
                c->got -= msg;
                messages++;
                bytes += msg;
                if (send(c->fd, out, msg, MSG_NOSIGNAL) != (ssize_t)msg) { perror("send"); return 1; }
            }
        }
    }
    printf("%llu %llu %.6f\n", messages, bytes, now() - t0);
    return 0;
}
