/*
 * Benchmark 1, the baseline: a bare TCP ping-pong over 127.0.0.1 between two processes (client and a
 * forked server), TCP_NODELAY, small messages of about a forwarded call's size. Times each of N
 * round trips exactly as sync_latency times a call.
 * Usage: pingpong N [request_bytes] [reply_bytes] [tcp|unix]   (unix: a Unix stream socket pair, the
 * local transport's baseline)
 * Prints: {"bench":"pingpong","n":N,"median_ns":...,"p99_ns":...,"mean_ns":...}
 */
#include "net.h"

static size_t req_bytes = 32, rep_bytes = 16;

static void serve(int fd)
{
    char in[4096], out[4096];
    memset(out, 0x5a, sizeof out);
    while (read_all(fd, in, req_bytes) == 0)
        write_all(fd, out, rep_bytes);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    if (argc > 2)
        req_bytes = strtoull(argv[2], NULL, 10);
    if (argc > 3)
        rep_bytes = strtoull(argv[3], NULL, 10);
    if (req_bytes == 0 || req_bytes > 4096 || rep_bytes == 0 || rep_bytes > 4096)
        die("message sizes must be 1..4096 bytes");
    pid_t child;
    int local = argc > 4 && strcmp(argv[4], "unix") == 0;
    int fd = local ? unix_pair(serve, &child) : loopback_pair(serve, &child);
    char out[4096], in[4096];
    memset(out, 0xa5, sizeof out);
    uint64_t *t = malloc(n * sizeof *t);
    if (t == NULL)
        die("out of memory");
    for (size_t i = 0; i < 1000; i++) {
        write_all(fd, out, req_bytes);
        read_all(fd, in, rep_bytes);
    }
    uint64_t total0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t a = now_ns();
        write_all(fd, out, req_bytes);
        if (read_all(fd, in, rep_bytes) != 0)
            die("the server closed");
        t[i] = now_ns() - a;
    }
    uint64_t total = now_ns() - total0;
    finish(fd, child);
    uint64_t median = quantile_u64(t, n, 0.5), p99 = quantile_u64(t, n, 0.99);
    printf("{\"bench\":\"pingpong\",\"socket\":\"%s\",\"n\":%zu,\"request_bytes\":%zu,\"reply_bytes\":%zu,\"median_ns\":%llu,\"p99_ns\":%llu,\"mean_ns\":%.1f}\n",
           local ? "unix" : "tcp", n, req_bytes, rep_bytes, (unsigned long long)median, (unsigned long long)p99, (double)total / (double)n);
    return 0;
}
