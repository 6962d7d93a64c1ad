/*
 * What a shared-memory ring could give small calls (issue 13): a ping-pong between two processes
 * through one shared page, each side spinning briefly on the other's sequence number and then
 * sleeping on it with a futex, messages of a forwarded call's size. Times each of N round trips
 * exactly as pingpong.c does, for the local transport's latency against a Unix socket's.
 * Usage: shm_pingpong N [request_bytes] [reply_bytes] [spin_iterations]
 * Prints: {"bench":"shm_pingpong","n":N,"spin":S,"median_ns":...,"p99_ns":...,"mean_ns":...}
 */
#define _GNU_SOURCE
#include "bench.h"

#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct channel {
    _Atomic uint32_t request_seq, reply_seq;
    uint32_t request_bytes, reply_bytes;
    char request[4096], reply[4096];
};

static unsigned spin = 2000;

static void futex_wait(_Atomic uint32_t *word, uint32_t seen)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Waits until *word differs from seen: a brief spin, then the futex. Returns the new value. */
static uint32_t await_change(_Atomic uint32_t *word, uint32_t seen)
{
    for (unsigned i = 0; i < spin; i++) {
        uint32_t now = atomic_load_explicit(word, memory_order_acquire);
        if (now != seen)
            return now;
        __builtin_ia32_pause();
    }
    uint32_t now;
    while ((now = atomic_load_explicit(word, memory_order_acquire)) == seen)
        futex_wait(word, seen);
    return now;
}

static void post(_Atomic uint32_t *word)
{
    atomic_fetch_add_explicit(word, 1, memory_order_release);
    futex_wake(word);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    size_t req = argc > 2 ? strtoull(argv[2], NULL, 10) : 32, rep = argc > 3 ? strtoull(argv[3], NULL, 10) : 16;
    if (argc > 4)
        spin = (unsigned)strtoul(argv[4], NULL, 10);
    if (req == 0 || req > 4096 || rep == 0 || rep > 4096)
        die("message sizes must be 1..4096 bytes");
    struct channel *ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ch == MAP_FAILED)
        die("mmap failed");
    ch->request_bytes = (uint32_t)req;
    ch->reply_bytes = (uint32_t)rep;
    pid_t child = fork();
    if (child < 0)
        die("fork failed");
    if (child == 0) {
        char in[4096];
        uint32_t seen = 0;
        for (;;) {
            seen = await_change(&ch->request_seq, seen);
            if (seen == UINT32_MAX)
                _exit(0);
            memcpy(in, ch->request, ch->request_bytes);
            memset(ch->reply, 0x5a, ch->reply_bytes);
            post(&ch->reply_seq);
        }
    }
    char out[4096], in[4096];
    memset(out, 0xa5, sizeof out);
    uint64_t *t = malloc(n * sizeof *t);
    if (t == NULL)
        die("out of memory");
    uint32_t replies = 0;
    for (size_t i = 0; i < 1000 + n; i++) {
        uint64_t a = now_ns();
        memcpy(ch->request, out, req);
        post(&ch->request_seq);
        replies = await_change(&ch->reply_seq, replies);
        memcpy(in, ch->reply, rep);
        if (i >= 1000)
            t[i - 1000] = now_ns() - a;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += t[i];
    atomic_store_explicit(&ch->request_seq, UINT32_MAX, memory_order_release);
    futex_wake(&ch->request_seq);
    waitpid(child, NULL, 0);
    uint64_t median = quantile_u64(t, n, 0.5), p99 = quantile_u64(t, n, 0.99);
    printf("{\"bench\":\"shm_pingpong\",\"n\":%zu,\"spin\":%u,\"request_bytes\":%zu,\"reply_bytes\":%zu,\"median_ns\":%llu,\"p99_ns\":%llu,\"mean_ns\":%.1f}\n",
           n, spin, req, rep, (unsigned long long)median, (unsigned long long)p99, (double)total / (double)n);
    return 0;
}
