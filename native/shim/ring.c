/*
 * The call ring with a local daemon (ring.h). Who touches what:
 * - the request ring has one producer, whoever holds conn->send_order (conn.c's send_batch);
 * - the reply ring is read under rx_lock, by a caller waiting for its reply (it spins a little,
 *   reading for everyone) or by the reply reader thread, which sleeps on the client's bell and is
 *   woken by the daemon only when no thread of this side says it is looking (CLIENT_AWAKE);
 * - a reply the daemon sent on the socket is announced in the reply ring: the ring's later replies
 *   wait until the socket's receiver delivered it, and the receiver delivers it only once the ring's
 *   earlier replies are, so replies reach the job in the order the daemon sent them.
 */
#define _GNU_SOURCE
#include "ring.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "call_ring_layout.h"
#include "conn.h"
#include "decode.h"
#include "gp_frames.h"
#include "shim.h"
#include "ws.h"

/* Per direction: 1 MiB holds thousands of small calls; a record holds up to half. The daemon's
 * compute.callRingBytes default takes exactly this. */
#define RING_CAP ((uint64_t)1 << 20)
#define DEFAULT_SPIN_US 50
/* Fire-and-forget work batched this large goes to the ring from the calling thread at once: while the
 * session runs one record, the job fills the next (a few hundred launches). */
#define RING_BATCH_BYTES ((size_t)16 << 10)
/* Sleeps are cut this short, to see a connection that died or is closing. */
#define SLEEP_SLICE_NS 100000000L
/* The receiver waits at most this long for the ring's replies that came before a socket message. */
#define ORDER_WAIT_NS 2000000000ull

struct gp_ring {
    uint8_t *base;
    size_t bytes;
    gp_ring_dir req, rep;
    uint64_t req_head; /* under conn->send_order */
    uint64_t rep_tail; /* under rx_lock */
    uint64_t spin_ns;
    pthread_mutex_t rx_lock;
    pthread_mutex_t order_lock;
    pthread_cond_t order_cond;
    uint64_t markers;     /* socket records the ring's readers passed */
    uint64_t socket_done; /* socket messages the receiver delivered */
    pthread_t reader;
    int started;
    int stop;
};

static uint32_t *word(gp_ring *r, unsigned at) { return gp_ring_word(r->base, at); }

static int gone(gp_conn *c) { return __atomic_load_n(&c->dead, __ATOMIC_RELAXED) || __atomic_load_n(&c->ring->stop, __ATOMIC_RELAXED); }

static uint64_t spin_ns(void)
{
    const char *e = getenv("GPUPOOL_CALL_RING_SPIN_US");
    long us = e != NULL ? atol(e) : DEFAULT_SPIN_US;
    return us > 0 ? (uint64_t)us * 1000u : 0;
}

void gp_ring_open(gp_conn *c)
{
    const char *e = getenv("GPUPOOL_CALL_RING");
    if (c->tls || strncmp(c->url, "unix://", 7) != 0 || (e != NULL && strcmp(e, "0") == 0))
        return;
    const size_t bytes = (size_t)gp_ring_bytes(RING_CAP);
    int fd = memfd_create("gpupool-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return;
    void *base = MAP_FAILED;
    gp_ring *r = calloc(1, sizeof *r);
    if (r == NULL || ftruncate(fd, (off_t)bytes) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0 ||
        (base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        free(r);
        close(fd);
        return;
    }
    r->base = base;
    r->bytes = bytes;
    gp_ring_dirs(r->base, RING_CAP, &r->req, &r->rep);
    r->spin_ns = spin_ns();
    pthread_mutex_init(&r->rx_lock, NULL);
    pthread_mutex_init(&r->order_lock, NULL);
    pthread_cond_init(&r->order_cond, NULL);
    /* The descriptor on a ping, then the ring frame alone in a message, answered before any call. */
    const gp_frame_shm_ring f = { .bytes = bytes };
    const gp_frame_call head = { .op = GP_OP_SHM_RING, .seq = gp_conn_next_seq(c), .ctx = 0 };
    char msg[64];
    char *p = gp_frame_call_encode(msg, &head, gp_frame_shm_ring_values(&f));
    p = gp_frame_shm_ring_encode(p, &f);
    struct iovec part = { .iov_base = msg, .iov_len = (size_t)(p - msg) };
    uint8_t *buf = NULL;
    size_t cap = 0, got = 0;
    gp_reply reply = { 0 };
    int ok = gp_ws_send_fd(c->ws, fd) == 0 && gp_ws_send(c->ws, &part, 1) == 0 && gp_ws_recv(c->ws, &buf, &cap, &got, 15000) == 0;
    close(fd);
    if (ok) {
        const char *pos = (const char *)buf;
        ok = gp_decode_reply(&pos, (const char *)buf + got, &reply) == 0 && reply.seq == head.seq;
    }
    free(buf);
    if (ok && reply.rc == CUDA_SUCCESS) {
        c->ring = r;
        gp_debug("%s: calls go through a shared-memory ring (%zu bytes)", c->url, bytes);
        return;
    }
    if (ok)
        gp_debug("%s: the daemon refused the call ring (CUresult %d; its log says why): calls go through the socket", c->url, (int)reply.rc);
    munmap(base, bytes);
    free(r);
}

/* Takes the replies the ring holds, delivering them in order. The count, or -1 on a broken ring. */
static int poll_replies(gp_conn *c, gp_ring *r, int blocking)
{
    if (blocking)
        pthread_mutex_lock(&r->rx_lock);
    else if (pthread_mutex_trylock(&r->rx_lock) != 0)
        return 0;
    int n = 0;
    for (;;) {
        gp_ring_rec rec;
        int found = gp_ring_peek(&r->rep, r->rep_tail, &rec);
        if (found == GP_RING_EMPTY)
            break;
        if (found == GP_RING_BAD) {
            n = -1;
            break;
        }
        if (rec.kind == GP_RING_SOCKET) {
            /* The next reply is on the socket: what follows here waits until the receiver has it. */
            pthread_mutex_lock(&r->order_lock);
            r->markers++;
            pthread_cond_broadcast(&r->order_cond);
            while (r->socket_done < r->markers && !gone(c)) {
                const struct timespec until = gp_deadline_in(CLOCK_REALTIME, SLEEP_SLICE_NS);
                pthread_cond_timedwait(&r->order_cond, &r->order_lock, &until);
            }
            pthread_mutex_unlock(&r->order_lock);
        } else if (gp_conn_deliver(c, rec.payload, rec.len) != 0) {
            n = -1;
            break;
        }
        r->rep_tail = rec.next_tail;
        gp_ring_consumed(&r->rep, r->rep_tail);
        n++;
    }
    pthread_mutex_unlock(&r->rx_lock);
    return n;
}

static int has_reply(gp_ring *r) { return __atomic_load_n(r->rep.head, __ATOMIC_ACQUIRE) != __atomic_load_n(r->rep.tail, __ATOMIC_RELAXED); }

static void *reader_main(void *arg)
{
    gp_conn *c = arg;
    gp_ring *r = c->ring;
    uint32_t *bell = word(r, GP_RING_CLIENT_BELL), *awake = word(r, GP_RING_CLIENT_AWAKE);
    while (!gone(c)) {
        /* Asleep unless rung: the callers that wait for replies spin on the ring themselves. */
        const uint32_t seen = __atomic_load_n(bell, __ATOMIC_SEQ_CST);
        if (!has_reply(r))
            gp_ring_futex_wait(bell, seen, SLEEP_SLICE_NS);
        __atomic_fetch_add(awake, 1, __ATOMIC_SEQ_CST);
        int n = poll_replies(c, r, 1);
        __atomic_fetch_sub(awake, 1, __ATOMIC_SEQ_CST);
        /* The session found the ring empty while calls were held back for a batch: they go now. */
        if (n >= 0 && __atomic_load_n(word(r, GP_RING_CLIENT_HELD), __ATOMIC_ACQUIRE) != 0)
            gp_conn_flush(c);
        if (n < 0) {
            gp_conn_mark_dead(c, "a malformed reply in the call ring");
            break;
        }
    }
    return NULL;
}

int gp_ring_start(gp_conn *c)
{
    if (c->ring == NULL)
        return 0;
    if (pthread_create(&c->ring->reader, NULL, reader_main, c) != 0)
        return -1;
    c->ring->started = 1;
    return 0;
}

int gp_ring_send(gp_conn *c, const uint8_t *data, size_t len)
{
    gp_ring *r = c->ring;
    /* Descriptors went on the socket just before (a region's): the frame naming them follows them there. */
    const int on_socket = len > gp_ring_max_payload(r->req.cap) || __atomic_exchange_n(&c->ring_socket_next, 0, __ATOMIC_SEQ_CST);
    unsigned nap_us = 0;
    for (;;) {
        int put = on_socket ? gp_ring_put(&r->req, &r->req_head, GP_RING_SOCKET, NULL, 0) : gp_ring_put(&r->req, &r->req_head, GP_RING_MSG, data, (uint32_t)len);
        if (put == 0)
            break;
        if (put < 0 || gone(c))
            return -1;
        /* Full: the daemon's session is behind (it takes records as fast as it runs them). */
        if (nap_us == 0) {
            sched_yield();
            nap_us = 10;
        } else {
            usleep(nap_us);
            nap_us = nap_us < 1000 ? nap_us * 2 : 1000;
        }
    }
    gp_ring_ring_session(word(r, GP_RING_SESSION_BELL), word(r, GP_RING_SESSION_AWAKE));
    if (!on_socket)
        return 0;
    static const uint8_t clear[4] = { 0, 0, 0, 0 };
    return gp_ws_send_masked(c->ws, data, len, clear);
}

void gp_ring_batch_taken(gp_conn *c)
{
    __atomic_store_n(word(c->ring, GP_RING_CLIENT_HELD), 0u, __ATOMIC_SEQ_CST);
}

/*
 * Asleep (0): it needs its bell. Polling an empty ring (3): it takes a record within a spin's turn.
 * Either way a call goes now: held back, it would leave the card idle. Running records (1) or being
 * woken (2): it finds the batch in time.
 */
static int session_idle(gp_ring *r)
{
    const uint32_t v = __atomic_load_n(word(r, GP_RING_SESSION_AWAKE), __ATOMIC_SEQ_CST);
    return v == 0 || v == GP_RING_SESSION_POLLING;
}

int gp_ring_flush_now(gp_conn *c, size_t batched, int first)
{
    gp_ring *r = c->ring;
    if (batched >= RING_BATCH_BYTES)
        return 1;
    /*
     * A session asleep needs its bell now (the first flush wakes it); one polling an empty ring takes
     * the call at once. One running earlier records lets the batch grow, so that it pays its
     * per-record costs once for many calls while this thread fills the next batch; one being woken
     * finds the batch later.
     */
    if (session_idle(r))
        return 1;
    if (!first)
        return 0;
    /* Held back: a session that runs out of records rings the reply reader (which flushes). Said before
     * looking again, so that a session that went idle meanwhile is seen here or sees the word. */
    __atomic_store_n(word(r, GP_RING_CLIENT_HELD), 1u, __ATOMIC_SEQ_CST);
    return session_idle(r);
}

CUresult gp_ring_wait(gp_conn *c, gp_pending *e)
{
    gp_ring *r = c->ring;
    uint32_t *awake = word(r, GP_RING_CLIENT_AWAKE);
    __atomic_fetch_add(awake, 1, __ATOMIC_SEQ_CST);
    const uint64_t start = gp_ring_now_ns(), until = start + r->spin_ns;
    gp_ring_spin spin = { 0, start };
    int broken = 0;
    while (!__atomic_load_n(&e->done, __ATOMIC_ACQUIRE)) {
        int n = poll_replies(c, r, 0);
        if (n < 0) {
            broken = 1;
            break;
        }
        if (n == 0 && !gp_ring_keep_spinning(gp_ring_now_ns(), until, &spin))
            break;
        gp_ring_relax();
    }
    __atomic_fetch_sub(awake, 1, __ATOMIC_SEQ_CST);
    /*
     * Then asleep on the client's bell itself, taking replies as they come, rather than waiting for the
     * reply reader to wake and then wake this thread: a long call (a stream's synchronisation) costs one
     * wake-up, not two. The socket's receiver and a dying connection ring the bell too.
     */
    uint32_t *bell = word(r, GP_RING_CLIENT_BELL);
    while (!broken && !__atomic_load_n(&e->done, __ATOMIC_ACQUIRE) && !gone(c)) {
        const uint32_t seen = __atomic_load_n(bell, __ATOMIC_SEQ_CST);
        if (has_reply(r)) {
            if (poll_replies(c, r, 1) < 0)
                broken = 1;
            continue;
        }
        if (__atomic_load_n(&e->done, __ATOMIC_ACQUIRE))
            break;
        gp_ring_futex_wait(bell, seen, SLEEP_SLICE_NS);
    }
    if (broken)
        gp_conn_mark_dead(c, "a malformed reply in the call ring");
    pthread_mutex_lock(&c->batch_lock);
    while (!e->done)
        pthread_cond_wait(&e->cond, &c->batch_lock);
    pthread_mutex_unlock(&c->batch_lock);
    return e->rc;
}

void gp_ring_before_socket_message(gp_conn *c)
{
    gp_ring *r = c->ring;
    const uint64_t give_up = gp_ring_now_ns() + ORDER_WAIT_NS;
    pthread_mutex_lock(&r->order_lock);
    while (r->markers <= r->socket_done && !gone(c) && gp_ring_now_ns() < give_up) {
        /* The ring's readers pass its record (the daemon rang the reply reader for it). */
        const struct timespec until = gp_deadline_in(CLOCK_REALTIME, 1000000LL);
        pthread_cond_timedwait(&r->order_cond, &r->order_lock, &until);
    }
    pthread_mutex_unlock(&r->order_lock);
}

void gp_ring_after_socket_message(gp_conn *c)
{
    gp_ring *r = c->ring;
    pthread_mutex_lock(&r->order_lock);
    r->socket_done++;
    pthread_cond_broadcast(&r->order_cond);
    pthread_mutex_unlock(&r->order_lock);
    gp_ring_poke(c); /* a caller asleep on the bell may wait for this reply */
}

void gp_ring_poke(gp_conn *c)
{
    gp_ring *r = c->ring;
    if (r == NULL)
        return;
    __atomic_fetch_add(word(r, GP_RING_CLIENT_BELL), 1, __ATOMIC_SEQ_CST);
    gp_ring_futex_wake(word(r, GP_RING_CLIENT_BELL));
}

void gp_ring_drain(gp_conn *c)
{
    gp_ring *r = c->ring;
    if (r == NULL)
        return;
    /* The daemon runs what it took before the close; what it never took would be lost. */
    const uint64_t give_up = gp_ring_now_ns() + ORDER_WAIT_NS;
    while (!gone(c) && __atomic_load_n(r->req.tail, __ATOMIC_ACQUIRE) != r->req_head && gp_ring_now_ns() < give_up)
        usleep(100);
}

void gp_ring_stop(gp_conn *c)
{
    gp_ring *r = c->ring;
    if (r == NULL || !r->started)
        return;
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
    gp_ring_poke(c);
    pthread_join(r->reader, NULL);
    r->started = 0;
    /* The mapping stays: a thread of the job may still be returning from a wait on it. */
}
