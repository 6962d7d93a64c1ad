/*
 * The call ring of a local session (issue 13; docs/protocol.md, "The call ring"): one memfd the client
 * maps and passes like its shared memory regions, holding a request ring (client to session) and a
 * reply ring (session to client). Each ring is single producer, single consumer, and carries the
 * same message bytes the socket would (the frames of the generated codec), one message per record.
 * Both ends include this file, C and C++, so the layout and the record reader exist once.
 *
 * Layout: a header page of shared words, then the request ring's bytes, then the reply ring's, each
 * `cap` bytes (a power of two). A record is [u32 length, u32 kind] then the payload, padded to 8.
 * A record never wraps: where it would not fit before the ring's end the producer writes WRAP there.
 * The consumer trusts nothing it reads: every index and length is copied out, then checked.
 */
#ifndef GPUPOOL_COMMON_CALL_RING_LAYOUT_H
#define GPUPOOL_COMMON_CALL_RING_LAYOUT_H

#include <stdint.h>
#include <string.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GP_RING_HEADER 4096u
#define GP_RING_MIN_CAP (64u << 10)
#define GP_RING_MAX_CAP (64u << 20)
/* Where each shared word lies in the header page (apart, so that the two sides' writes share no line). */
#define GP_RING_REQ_HEAD 0u    /* u64, the client's: request bytes published */
#define GP_RING_REQ_TAIL 64u   /* u64, the session's: request bytes consumed */
#define GP_RING_REP_HEAD 128u  /* u64, the session's: reply bytes published */
#define GP_RING_REP_TAIL 192u  /* u64, the client's: reply bytes consumed */
#define GP_RING_SESSION_BELL 256u  /* u32 futex the session sleeps on; whoever gives it work bumps it */
#define GP_RING_SESSION_AWAKE 260u /* u32: 1 while the session runs records, 3 while it polls an empty ring
                                      (neither needs a wake), 0 asleep, 2 a client is waking it */
#define GP_RING_SESSION_POLLING 3u
#define GP_RING_CLIENT_BELL 320u   /* u32 futex the client's reply reader sleeps on */
#define GP_RING_CLIENT_AWAKE 324u  /* u32: client threads polling the reply ring now */
#define GP_RING_CLIENT_HELD 328u   /* u32: nonzero while the client holds calls back to batch them: the
                                      session rings the client's bell when it runs out of records */

enum {
    GP_RING_MSG = 1,    /* a message, as the socket would carry it */
    GP_RING_SOCKET = 2, /* the next message in order is on the socket (too large, or after descriptors) */
    GP_RING_WRAP = 3,   /* nothing more before the ring's end: go on at its start */
};

/* One direction of the ring, as one side sees it. head and tail point into the shared page. */
typedef struct gp_ring_dir {
    uint64_t *head, *tail;
    uint8_t *data;
    uint64_t cap;
} gp_ring_dir;

/* The largest payload a record may hold: larger messages go on the socket. */
static inline uint64_t gp_ring_max_payload(uint64_t cap) { return cap / 2 - 8; }

/* A ring's whole size for a capacity per direction. */
static inline uint64_t gp_ring_bytes(uint64_t cap) { return GP_RING_HEADER + 2 * cap; }

/* The capacity a size stands for (a power of two from GP_RING_MIN_CAP to GP_RING_MAX_CAP), or 0. */
static inline uint64_t gp_ring_cap_of(uint64_t bytes)
{
    if (bytes < gp_ring_bytes(GP_RING_MIN_CAP) || bytes > gp_ring_bytes(GP_RING_MAX_CAP))
        return 0;
    uint64_t cap = (bytes - GP_RING_HEADER) / 2;
    return (cap & (cap - 1)) == 0 && gp_ring_bytes(cap) == bytes ? cap : 0;
}

static inline uint32_t *gp_ring_word(uint8_t *base, unsigned at) { return (uint32_t *)(void *)(base + at); }

static inline void gp_ring_dirs(uint8_t *base, uint64_t cap, gp_ring_dir *req, gp_ring_dir *rep)
{
    req->head = (uint64_t *)(void *)(base + GP_RING_REQ_HEAD);
    req->tail = (uint64_t *)(void *)(base + GP_RING_REQ_TAIL);
    req->data = base + GP_RING_HEADER;
    req->cap = cap;
    rep->head = (uint64_t *)(void *)(base + GP_RING_REP_HEAD);
    rep->tail = (uint64_t *)(void *)(base + GP_RING_REP_TAIL);
    rep->data = base + GP_RING_HEADER + cap;
    rep->cap = cap;
}

/*
 * Producer: appends one record. `own_head` is the producer's private copy of its head (never read
 * back from shared memory). 0: written; 1: no room now; -1: the other side's tail makes no sense.
 */
static inline int gp_ring_put(gp_ring_dir *d, uint64_t *own_head, uint32_t kind, const void *payload, uint32_t len)
{
    const uint64_t tail = __atomic_load_n(d->tail, __ATOMIC_ACQUIRE);
    uint64_t head = *own_head;
    if (head - tail > d->cap)
        return -1;
    const uint64_t room = d->cap - (head - tail);
    uint64_t pos = head & (d->cap - 1);
    const uint64_t rec = 8 + (((uint64_t)len + 7) & ~(uint64_t)7);
    const uint64_t contiguous = d->cap - pos;
    if ((rec > contiguous ? contiguous + rec : rec) > room)
        return 1;
    if (rec > contiguous) {
        const uint32_t wrap[2] = { 0, GP_RING_WRAP };
        memcpy(d->data + pos, wrap, sizeof wrap);
        head += contiguous;
        pos = 0;
    }
    const uint32_t h[2] = { len, kind };
    memcpy(d->data + pos, h, sizeof h);
    if (len > 0)
        memcpy(d->data + pos + 8, payload, len);
    head += rec;
    __atomic_store_n(d->head, head, __ATOMIC_RELEASE);
    *own_head = head;
    return 0;
}

/* What the consumer found: a record (kind, and where its payload lies), nothing yet, or garbage. */
typedef struct gp_ring_rec {
    uint32_t kind;
    uint32_t len;
    const uint8_t *payload; /* in shared memory: copy it out before trusting it further */
    uint64_t next_tail;     /* the consumer's tail once it is done with the record */
} gp_ring_rec;

enum { GP_RING_EMPTY = 0, GP_RING_FOUND = 1, GP_RING_BAD = -1 };

/*
 * Consumer: the next record after `own_tail` (the consumer's private tail), WRAP records skipped.
 * Reads the producer's head once and checks every length against it and the ring.
 */
static inline int gp_ring_peek(const gp_ring_dir *d, uint64_t own_tail, gp_ring_rec *out)
{
    const uint64_t head = __atomic_load_n(d->head, __ATOMIC_ACQUIRE);
    uint64_t tail = own_tail;
    for (int turns = 0; turns < 2; turns++) {
        const uint64_t avail = head - tail;
        if (avail == 0)
            return GP_RING_EMPTY;
        if (avail > d->cap || (avail & 7) != 0)
            return GP_RING_BAD;
        const uint64_t pos = tail & (d->cap - 1);
        uint32_t h[2];
        memcpy(h, d->data + pos, sizeof h);
        const uint64_t contiguous = d->cap - pos;
        if (h[1] == GP_RING_WRAP) {
            if (contiguous > avail || pos == 0)
                return GP_RING_BAD;
            tail += contiguous;
            continue;
        }
        if (h[1] != GP_RING_MSG && h[1] != GP_RING_SOCKET)
            return GP_RING_BAD;
        const uint64_t rec = 8 + (((uint64_t)h[0] + 7) & ~(uint64_t)7);
        if (h[0] > gp_ring_max_payload(d->cap) || rec > contiguous || rec > avail || (h[1] == GP_RING_SOCKET && h[0] != 0))
            return GP_RING_BAD;
        out->kind = h[1];
        out->len = h[0];
        out->payload = d->data + pos + 8;
        out->next_tail = tail + rec;
        return GP_RING_FOUND;
    }
    return GP_RING_BAD; /* two wraps in a row */
}

/* The consumer is done up to `tail`: the producer may reuse the bytes. */
static inline void gp_ring_consumed(gp_ring_dir *d, uint64_t tail) { __atomic_store_n(d->tail, tail, __ATOMIC_RELEASE); }

/* Waits while *word == expected, at most timeout_ns (shared futex: both processes map the word). */
static inline void gp_ring_futex_wait(uint32_t *word, uint32_t expected, long timeout_ns)
{
    struct timespec ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };
    (void)syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static inline void gp_ring_futex_wake(uint32_t *word) { (void)syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0); }

/*
 * Tells the side sleeping on `bell` that there is work: bumps the bell and wakes it unless it says it
 * is awake (it then sees the work itself: it rechecks after clearing its awake word).
 */
static inline void gp_ring_ring(uint32_t *bell, uint32_t *awake)
{
    __atomic_fetch_add(bell, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(awake, __ATOMIC_SEQ_CST) == 0)
        gp_ring_futex_wake(bell);
}

/*
 * The session's bell: as gp_ring_ring, but a session asleep is woken once, by whichever producer first
 * marks it being woken (AWAKE 0 -> 2); the others see it so and make no syscall. The session says 1
 * again once it runs, and looks at the whole ring before it sleeps again.
 */
static inline void gp_ring_ring_session(uint32_t *bell, uint32_t *awake)
{
    __atomic_fetch_add(bell, 1, __ATOMIC_SEQ_CST);
    uint32_t asleep = 0;
    if (__atomic_load_n(awake, __ATOMIC_SEQ_CST) == 0 && __atomic_compare_exchange_n(awake, &asleep, 2u, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        gp_ring_futex_wake(bell);
}

static inline void gp_ring_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/*
 * A spin's clock: false once the spin should stop, at `until` or as soon as the spinner finds it lost
 * its CPU for a while (on a machine with more runnable threads than CPUs a spinner only delays the
 * side it waits for: it sleeps instead). At the spin's start: { 0, now }.
 *
 * While it goes on, the spin gives way every GP_RING_YIELD_NS to any thread queued on its CPU: the one
 * it just woke (the client a reply rang, the session a call rang) is often there, since the kernel
 * wakes a thread on its waker's CPU, and would otherwise wait out the whole spin (measured: the
 * training loop's step grew by the spin's length). Alone on its CPU, a yield returns at once, but it
 * is a system call: the first comes GP_RING_YIELD_NS into the spin, so that a quick answer costs none.
 */
#define GP_RING_PREEMPTED_NS 20000u
#define GP_RING_YIELD_NS 2000u
typedef struct gp_ring_spin {
    uint64_t last;    /* the previous look */
    uint64_t yielded; /* the last yield (at first, the spin's start) */
} gp_ring_spin;

static inline int gp_ring_keep_spinning(uint64_t now, uint64_t until, gp_ring_spin *s)
{
    const int preempted = s->last != 0 && now - s->last > GP_RING_PREEMPTED_NS;
    s->last = now;
    if (now >= until || preempted)
        return 0;
    if (now - s->yielded >= GP_RING_YIELD_NS) {
        sched_yield();
        s->yielded = now;
    }
    return 1;
}

static inline uint64_t gp_ring_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

#endif
