/*
 * Benchmark 3, the baseline: the same byte counts over a raw TCP connection on 127.0.0.1 between two
 * processes (TCP_NODELAY). "htod": the client sends a 16-byte header and BYTES bytes, the server reads
 * them into its buffer and answers 16 bytes. "dtoh": the client sends a 16-byte request, the server
 * writes BYTES bytes from its buffer, the client reads them into its own. Each is timed as copy_bw
 * times a synchronous copy (median of the same number of repetitions).
 * Usage: stream TARGET_BYTES SIZE...
 * Prints the same JSON shape as copy_bw, with "bench":"stream".
 * GP_STREAM_PASS=1: the server also copies each message once between its socket buffer and a second
 * buffer (after reading, before writing), as the emulated driver's "device" copy does through gpupool:
 * the raw stream plus that one pass, not overlapped (the limit it sets, docs/benchmarks.md).
 */
#include "net.h"

#define MAX_REPS 400

static size_t largest;

struct header {
    uint64_t op; /* 1: the client sends, 2: the client receives */
    uint64_t bytes;
};

static void serve(int fd)
{
    char *buf = malloc(largest);
    const char *pass = getenv("GP_STREAM_PASS");
    char *device = pass != NULL && strcmp(pass, "1") == 0 ? malloc(largest) : NULL;
    if (buf == NULL)
        die("out of memory");
    memset(buf, 0x3c, largest);
    if (device != NULL)
        memset(device, 0x3c, largest);
    struct header h;
    char ack[16] = { 0 };
    while (read_all(fd, &h, sizeof h) == 0) {
        if (h.bytes > largest)
            die("too large");
        if (h.op == 1) {
            read_all(fd, buf, h.bytes);
            if (device != NULL)
                memcpy(device, buf, h.bytes);
            write_all(fd, ack, sizeof ack);
        } else {
            if (device != NULL)
                memcpy(buf, device, h.bytes);
            write_all(fd, buf, h.bytes);
        }
    }
}

static size_t reps_for(size_t bytes, size_t target)
{
    size_t r = target / bytes;
    return r < 3 ? 3 : r > MAX_REPS ? MAX_REPS : r;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        die("usage: stream TARGET_BYTES SIZE...");
    size_t target = strtoull(argv[1], NULL, 10);
    for (int i = 2; i < argc; i++) {
        size_t b = strtoull(argv[i], NULL, 10);
        largest = b > largest ? b : largest;
    }
    char *host = malloc(largest);
    if (host == NULL)
        die("out of memory");
    memset(host, 0x3c, largest);
    pid_t child;
    int fd = loopback_pair(serve, &child);
    uint64_t *t = malloc(MAX_REPS * sizeof *t);
    char ack[16];
    printf("{\"bench\":\"stream\",\"sizes\":[");
    for (int i = 2; i < argc; i++) {
        size_t bytes = strtoull(argv[i], NULL, 10), reps = reps_for(bytes, target);
        for (int dir = 1; dir <= 2; dir++) {
            struct header h = { (uint64_t)dir, bytes };
            for (size_t r = 0; r <= reps; r++) { /* r == 0: warm-up */
                uint64_t a = now_ns();
                write_all(fd, &h, sizeof h);
                if (dir == 1) {
                    write_all(fd, host, bytes);
                    read_all(fd, ack, sizeof ack);
                } else {
                    read_all(fd, host, bytes);
                }
                if (r > 0)
                    t[r - 1] = now_ns() - a;
            }
            uint64_t med = quantile_u64(t, reps, 0.5);
            if (dir == 1)
                printf("%s{\"bytes\":%zu,\"reps\":%zu,\"htod_ns\":%llu", i > 2 ? "," : "", bytes, reps, (unsigned long long)med);
            else
                printf(",\"dtoh_ns\":%llu}", (unsigned long long)med);
        }
        fflush(stdout);
    }
    printf("]}\n");
    finish(fd, child);
    return 0;
}
