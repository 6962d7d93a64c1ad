/* Loopback TCP helpers of the socket baselines (pingpong.c, stream.c). */
#ifndef GPUPOOL_BENCH_NET_H
#define GPUPOOL_BENCH_NET_H

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static inline void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send failed");
        p += w;
        n -= (size_t)w;
    }
}

/* Returns 0, or -1 when the peer closed before the first byte. */
static inline int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t want = n;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && n == want)
            return -1;
        if (r <= 0)
            die("recv failed");
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/*
 * Forks a server process that serves one connection with serve(fd), and returns the client's
 * connected socket (TCP_NODELAY on both ends, 127.0.0.1). *child gets the server's pid.
 */
static inline int loopback_pair(void (*serve)(int fd), pid_t *child)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0 };
    socklen_t len = sizeof addr;
    if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&addr, &len) != 0)
        die("cannot listen on 127.0.0.1");
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            die("accept failed");
        close(ls);
        nodelay(fd);
        serve(fd);
        _exit(0);
    }
    close(ls);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("cannot connect to the server");
    nodelay(fd);
    *child = pid;
    return fd;
}

/* As loopback_pair, over a connected pair of Unix stream sockets (the local transport's baseline). */
static inline int unix_pair(void (*serve)(int fd), pid_t *child)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair failed");
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        close(sv[0]);
        serve(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    *child = pid;
    return sv[0];
}

static inline void finish(int fd, pid_t child)
{
    shutdown(fd, SHUT_RDWR);
    close(fd);
    int status;
    waitpid(child, &status, 0);
}

#endif
