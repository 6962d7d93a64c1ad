#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpuck.h>

#include "client.h"
#include "decode.h"
#include "mp_check.h"
#include "ring.h"
#include "gp_ops.h"
#include "shim.h"

#define PING_EVERY_MS 5000
/* A daemon silent for this long (no data, no pong) is taken for gone: a cut link must not hang a job. */
#define DEFAULT_SILENCE_MS 20000

static int silence_ms(void)
{
    const char *v = getenv("GPUPOOL_TIMEOUT_MS");
    int ms = v ? atoi(v) : 0;
    return ms > 0 ? ms : DEFAULT_SILENCE_MS;
}

static int parse_url(gp_conn *c, const char *url, char *why, size_t why_len)
{
    const char *rest;
    if (strncmp(url, "unix://", 7) == 0) {
        /* unix:///run/gpupool/gpupool.sock: a daemon on this host (docs/operations.md, "The local socket"). */
        const char *path = url + 7;
        if (path[0] != '/' || strlen(path) >= sizeof c->host) {
            snprintf(why, why_len, "%s: a unix:// address names an absolute socket path (at most %zu bytes)", url, sizeof c->host - 1);
            return -1;
        }
        snprintf(c->host, sizeof c->host, "%s", path);
        c->port[0] = '\0';
        snprintf(c->path, sizeof c->path, "/v1/compute");
        snprintf(c->url, sizeof c->url, "%s", url);
        c->local = 1;
        return 0;
    }
    if (strncmp(url, "ws://", 5) == 0) {
        rest = url + 5;
    } else if (strncmp(url, "wss://", 6) == 0) {
        rest = url + 6;
        c->tls = 1;
    } else {
        snprintf(why, why_len, "%s: not a ws://, wss:// or unix:// address", url);
        return -1;
    }
    const char *slash = strchr(rest, '/');
    size_t hostport = slash ? (size_t)(slash - rest) : strlen(rest);
    snprintf(c->path, sizeof c->path, "%s", slash ? slash : "/v1/compute");
    char hp[160];
    if (hostport == 0 || hostport >= sizeof hp) {
        snprintf(why, why_len, "%s: no host", url);
        return -1;
    }
    memcpy(hp, rest, hostport);
    hp[hostport] = '\0';
    char *colon = strrchr(hp, ':');
    if (hp[0] == '[') { /* [v6]:port */
        char *end = strchr(hp, ']');
        if (end == NULL) {
            snprintf(why, why_len, "%s: unterminated [", url);
            return -1;
        }
        *end = '\0';
        snprintf(c->host, sizeof c->host, "%s", hp + 1);
        snprintf(c->port, sizeof c->port, "%s", end[1] == ':' ? end + 2 : "7760");
    } else {
        if (colon)
            *colon = '\0';
        snprintf(c->host, sizeof c->host, "%s", hp);
        snprintf(c->port, sizeof c->port, "%s", colon ? colon + 1 : "7760");
    }
    snprintf(c->url, sizeof c->url, "%s", url);
    return 0;
}

static void fail_all(gp_conn *c)
{
    /* Lock held. Every waiter learns the daemon is gone; deferred entries just go. */
    c->dead = 1;
    /* Not while the receiver writes into a copy's memory: a caller that returned could free it
     * meanwhile. The receiver fails them once it stops (finish_placed). */
    if (c->placing)
        return;
    gp_pending **p = &c->pending;
    while (*p) {
        gp_pending *e = *p;
        *p = e->next;
        e->done = 1;
        e->rc = CUDA_ERROR_DEVICE_UNAVAILABLE;
        if (e->deferred)
            free(e);
        else
            pthread_cond_signal(&e->cond);
    }
    pthread_cond_broadcast(&c->batch_ready);
}

static void mark_dead(gp_conn *c, const char *why)
{
    /* Counted before the lock: the records have locks of their own, never taken with batch_lock. */
    size_t contexts, allocations;
    uint64_t bytes;
    gp_server_holdings(c->index, &contexts, &allocations, &bytes);
    pthread_mutex_lock(&c->batch_lock);
    /* Said before any waiter wakes, so the job's own output of the failed calls comes after it. The
     * session and what it held are named: none of it survives (a restarted daemon starts fresh). */
    if (!c->dead && !c->stopping)
        gp_error("lost the daemon at %s (%s); session %llu there is gone with what it held (%zu context(s), %zu allocation(s), "
                 "%llu bytes); its devices now fail with CUDA_ERROR_DEVICE_UNAVAILABLE",
                 c->url, why, (unsigned long long)c->session, contexts, allocations, (unsigned long long)bytes);
    fail_all(c);
    pthread_mutex_unlock(&c->batch_lock);
    gp_ring_poke(c); /* callers asleep on the ring's bell see the end now */
    /* Nothing more goes either way: let the daemon see the end now (and free the session) rather
     * than when this process exits. The memory stays valid for threads still holding it. */
    gp_ws_shutdown(c->ws);
}

static gp_pending *take_pending(gp_conn *c, uint64_t seq)
{
    for (gp_pending **p = &c->pending; *p; p = &(*p)->next) {
        if ((*p)->seq == seq) {
            gp_pending *e = *p;
            *p = e->next;
            return e;
        }
    }
    return NULL;
}

/* Lock held. A taken entry's reply is in (e->rc set): its caller learns. */
static void complete(gp_conn *c, gp_pending *e)
{
    e->done = 1;
    /* Nobody waits for a deferred call: its failure waits for the next sync call instead. */
    if (e->deferred && e->rc != CUDA_SUCCESS && c->deferred_error == CUDA_SUCCESS)
        c->deferred_error = e->rc;
    if (e->deferred)
        free(e->reply), free(e);
    else
        pthread_cond_signal(&e->cond);
}

/* One reply frame: [seq, rc, outs...] (decode.c). Returns -1 on a malformed frame. */
static int deliver(gp_conn *c, const char **pos, const char *end)
{
    gp_reply r;
    if (gp_decode_reply(pos, end, &r) != 0)
        return -1;
    if (r.seq == 0)
        return gp_output_frame(&r);
    pthread_mutex_lock(&c->batch_lock);
    gp_pending *e = take_pending(c, r.seq);
    pthread_mutex_unlock(&c->batch_lock);
    if (e == NULL)
        return 0;
    int malformed = 0;
    e->rc = r.rc;
    if (r.rc == CUDA_SUCCESS && e->out_dst != NULL) {
        /* A reply that is not the data asked for: the call fails as on a lost connection (which this
         * one is about to be), rather than leave its caller waiting. */
        if (gp_reply_copy_bin(&r, e->out_dst, e->out_len) != 0) {
            malformed = 1;
            e->rc = CUDA_ERROR_DEVICE_UNAVAILABLE;
        }
    } else if (r.outs_len > 0) {
        e->reply = malloc(r.outs_len);
        if (e->reply) {
            memcpy(e->reply, r.outs, r.outs_len);
            e->reply_len = r.outs_len;
        }
    }
    pthread_mutex_lock(&c->batch_lock);
    complete(c, e);
    pthread_mutex_unlock(&c->batch_lock);
    return malformed ? -1 : 0;
}

int gp_conn_deliver(gp_conn *c, const uint8_t *data, size_t len)
{
    const char *pos = (const char *)data, *end = (const char *)data + len;
    while (pos < end) {
        if (deliver(c, &pos, end) != 0)
            return -1;
    }
    return 0;
}

void gp_conn_mark_dead(gp_conn *c, const char *why) { mark_dead(c, why); }

/* A device-to-host copy's reply whose bytes the receiver reads straight into the program's memory. */
typedef struct gp_placed {
    gp_conn *c;
    gp_pending *e; /* taken off the list while its bytes arrive; NULL: nothing placed */
} gp_placed;

/*
 * gp_ws_place for the receiver (issue 13: the raw stream's one pass, not a second from the message
 * buffer). The message must end with a successful reply [seq, rc, bin] whose bin is what a pending
 * copy expects (out_dst, at most out_len bytes); the frames before it are delivered as usual. Anything
 * else, a malformed message included, is left to gp_conn_deliver.
 */
static uint8_t *place_reply(void *user, uint8_t *head, size_t got, uint64_t total, size_t *len)
{
    gp_placed *pl = user;
    const char *p = (const char *)head, *end = p + got;
    for (;;) {
        const char *frame_end = p;
        if (gp_mp_check(&frame_end, end) != 0)
            break;
        p = frame_end; /* a whole frame before the one to place */
        if (p == end)
            return NULL;
    }
    const char *frame = p;
    if (mp_typeof(*p) != MP_ARRAY || mp_check_array(p, end) > 0 || mp_decode_array(&p) != 3)
        return NULL;
    if (p >= end || mp_typeof(*p) != MP_UINT || mp_check_uint(p, end) > 0)
        return NULL;
    uint64_t seq = mp_decode_uint(&p);
    if (p >= end || mp_typeof(*p) != MP_UINT || mp_check_uint(p, end) > 0 || mp_decode_uint(&p) != CUDA_SUCCESS)
        return NULL;
    if (p >= end || mp_typeof(*p) != MP_BIN || mp_check_binl(p, end) > 0)
        return NULL;
    uint32_t n = mp_decode_binl(&p);
    size_t at = (size_t)(p - (const char *)head);
    if (seq == 0 || at + (uint64_t)n != total)
        return NULL;
    gp_conn *c = pl->c;
    pthread_mutex_lock(&c->batch_lock);
    gp_pending *e = NULL;
    for (gp_pending *q = c->pending; q != NULL && !c->dead; q = q->next)
        if (q->seq == seq)
            e = q;
    if (e != NULL && e->out_dst != NULL && n <= e->out_len) {
        take_pending(c, seq);
        c->placing = 1;
    } else {
        e = NULL;
    }
    pthread_mutex_unlock(&c->batch_lock);
    if (e == NULL)
        return NULL;
    pl->e = e;
    memcpy(e->out_dst, p, got - at); /* the bin's first bytes came with the head */
    *len = (size_t)(frame - (const char *)head);
    return (uint8_t *)e->out_dst + (got - at);
}

/* The placed reply's bytes have all arrived (ok) or the connection failed on the way: its caller learns. */
static void finish_placed(gp_placed *pl, int ok)
{
    gp_conn *c = pl->c;
    gp_pending *e = pl->e;
    if (e == NULL)
        return;
    pl->e = NULL;
    pthread_mutex_lock(&c->batch_lock);
    c->placing = 0;
    e->rc = ok ? CUDA_SUCCESS : CUDA_ERROR_DEVICE_UNAVAILABLE;
    complete(c, e);
    if (c->dead)
        fail_all(c); /* the waiters it left while this one's bytes arrived */
    pthread_mutex_unlock(&c->batch_lock);
}

/* Lock not held. The connection ended while this thread read it: every waiter learns why. */
static void connection_lost(gp_conn *c)
{
    /* The daemon's close says why, when it sent one (a session worker that failed: 4006 and the cause). */
    const char *reason = gp_ws_close_reason(c->ws);
    char why[200];
    if (reason)
        snprintf(why, sizeof why, "the daemon closed the connection: %s", reason);
    mark_dead(c, reason ? why : "connection closed or silent");
}

/* Lock not held; the caller holds `reading`. One message, its replies delivered in the order they
 * came (a deferred device-to-host copy's bytes are in the program's memory before the sync reply
 * after it is seen). -1: the connection is over. */
static int read_message(gp_conn *c)
{
    size_t len = 0;
    gp_placed placed = { .c = c };
    if (gp_ws_recv_placed(c->ws, &c->rbuf, &c->rcap, &len, c->silence_ms, place_reply, &placed) != 0) {
        finish_placed(&placed, 0);
        connection_lost(c);
        return -1;
    }
    if (c->ring != NULL)
        gp_ring_before_socket_message(c);
    int bad = gp_conn_deliver(c, c->rbuf, len) != 0;
    finish_placed(&placed, !bad);
    if (c->ring != NULL)
        gp_ring_after_socket_message(c);
    if (bad) {
        mark_dead(c, "a malformed reply");
        return -1;
    }
    return 0;
}

/* Lock held. The socket's read side is free: a waiting caller (or, once none waits, the receiver) takes it. */
static void release_reading(gp_conn *c)
{
    c->reading = 0;
    for (gp_pending *e = c->pending; e; e = e->next)
        if (!e->deferred)
            pthread_cond_signal(&e->cond);
}

/* Lock held. One message read by this thread, which holds no `reading` yet; -1: the connection is over. */
static int read_turn(gp_conn *c)
{
    c->reading = 1;
    pthread_mutex_unlock(&c->batch_lock);
    int lost = read_message(c) != 0;
    pthread_mutex_lock(&c->batch_lock);
    release_reading(c);
    return lost ? -1 : 0;
}

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* Lock held. Over TCP the receiver leaves the socket to the callers while one reads, waits, or did
 * within GP_RECEIVER_QUIET_MS (a program between two steps of a loop); once the job stops it reads the
 * daemon's answer to the close. Over the call ring it reads always: callers wait on the ring. */
static int receiver_steps_aside(gp_conn *c)
{
    if (c->ring != NULL || c->stopping)
        return 0;
    return c->reading || c->waiters > 0 || ms_since(&c->last_wait) < GP_RECEIVER_QUIET_MS;
}

static void *receiver_main(void *arg)
{
    gp_conn *c = arg;
    pthread_mutex_lock(&c->batch_lock);
    while (!c->dead) {
        if (receiver_steps_aside(c)) {
            const struct timespec until = gp_deadline_in(CLOCK_MONOTONIC, GP_RECEIVER_QUIET_MS * 1000000LL);
            pthread_cond_timedwait(&c->reader_turn, &c->batch_lock, &until);
            continue;
        }
        if (read_turn(c) != 0)
            break;
    }
    pthread_mutex_unlock(&c->batch_lock);
    return NULL;
}

/* Takes the batch and sends it; the caller holds send_order, so batches leave in the order taken. */
static int send_batch(gp_conn *c)
{
    pthread_mutex_lock(&c->batch_lock);
    uint8_t *out = c->batch;
    size_t len = c->batch_len, out_cap = c->batch_cap;
    uint8_t mask[4];
    memcpy(mask, c->batch_mask, sizeof mask);
    /* Double buffering: callers fill one buffer while this one is on the wire. */
    c->batch = c->spare;
    c->batch_cap = c->spare_cap;
    c->batch_len = 0;
    c->spare = out;
    c->spare_cap = out_cap;
    if (c->ring != NULL && len > 0)
        gp_ring_batch_taken(c); /* cleared with the swap: a call batched after it says so again */
    int dead = c->dead;
    pthread_mutex_unlock(&c->batch_lock);
    if (dead)
        return -1;
    if (len == 0)
        return 0;
    if (c->ring != NULL ? gp_ring_send(c, out, len) != 0 : gp_ws_send_masked(c->ws, out, len, mask) != 0) {
        mark_dead(c, "send failed");
        return -1;
    }
    return 0;
}

int gp_conn_flush(gp_conn *c)
{
    pthread_mutex_lock(&c->send_order);
    int rc = send_batch(c);
    pthread_mutex_unlock(&c->send_order);
    return rc;
}

static void *sender_main(void *arg)
{
    gp_conn *c = arg;
    struct timespec last = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &last);
    /* Ping well within the silence the receiver tolerates: the pongs are what keeps an idle but
     * healthy connection from being taken for a lost one when GPUPOOL_TIMEOUT_MS is short. */
    int every_ms = silence_ms() / 3;
    if (every_ms > PING_EVERY_MS)
        every_ms = PING_EVERY_MS;
    if (every_ms < 10)
        every_ms = 10;
    for (;;) {
        pthread_mutex_lock(&c->batch_lock);
        while (c->batch_len == 0 && !c->dead && !c->stopping) {
            const struct timespec until = gp_deadline_in(CLOCK_REALTIME, every_ms * 1000000LL);
            c->sender_waiting = 1;
            int timed_out = pthread_cond_timedwait(&c->batch_ready, &c->batch_lock, &until) == ETIMEDOUT;
            c->sender_waiting = 0;
            if (timed_out)
                break;
        }
        int quit = c->dead || c->stopping;
        int idle = c->batch_len == 0;
        pthread_mutex_unlock(&c->batch_lock);
        if (quit)
            return NULL;
        if (idle) {
            if (gp_ws_ping(c->ws) != 0)
                mark_dead(c, "ping failed");
            continue;
        }
        gp_conn_flush(c);
    }
}

/*
 * A piece at least this large (a copy's slice) goes from the program's memory straight to the socket
 * in a frame of its own rather than through the batch: the raw stream's one pass, not two.
 */
#define DIRECT_SEND_BYTES ((size_t)256 << 10)

static int has_large_part(const struct iovec *parts, int count)
{
    for (int i = 0; i < count; i++)
        if (parts[i].iov_len >= DIRECT_SEND_BYTES)
            return 1;
    return 0;
}

/*
 * A frame with a large payload, sent on the calling thread after what is batched (send_order keeps
 * the order), unmasked (gp_ws_send_unmasked says why). Its pending entry is registered first, so the
 * reply cannot overtake it; from then on a failure reaches the caller through the entry (mark_dead),
 * and this returns 0 (-1 only when nothing was registered).
 */
static int append_direct(gp_conn *c, const struct iovec *parts, int count, gp_pending *pending)
{
    pthread_mutex_lock(&c->send_order);
    int rc = send_batch(c);
    if (rc == 0) {
        pthread_mutex_lock(&c->batch_lock);
        rc = c->dead ? -1 : 0;
        if (rc == 0 && pending != NULL) {
            pending->next = c->pending;
            c->pending = pending;
        }
        pthread_mutex_unlock(&c->batch_lock);
    }
    if (rc == 0 && gp_ws_send_unmasked(c->ws, parts, count) != 0)
        mark_dead(c, "send failed");
    pthread_mutex_unlock(&c->send_order);
    return rc;
}

int gp_conn_append(gp_conn *c, const struct iovec *parts, int count, gp_pending *pending)
{
    if (c->ring == NULL && has_large_part(parts, count))
        return append_direct(c, parts, count, pending);
    size_t len = 0;
    for (int i = 0; i < count; i++)
        len += parts[i].iov_len;
    pthread_mutex_lock(&c->batch_lock);
    /* A message stays under GP_BATCH_BYTES unless it is one frame: what is batched goes first. */
    while (c->batch_len > 0 && c->batch_len + len > GP_BATCH_BYTES && !c->dead) {
        pthread_mutex_unlock(&c->batch_lock);
        gp_conn_flush(c);
        pthread_mutex_lock(&c->batch_lock);
    }
    if (c->dead) {
        pthread_mutex_unlock(&c->batch_lock);
        return -1;
    }
    if (c->batch_len + len > c->batch_cap) {
        size_t cap = c->batch_cap ? c->batch_cap : 65536;
        while (cap < c->batch_len + len)
            cap *= 2;
        uint8_t *p = realloc(c->batch, cap);
        if (p == NULL) {
            pthread_mutex_unlock(&c->batch_lock);
            return -1;
        }
        c->batch = p;
        c->batch_cap = cap;
    }
    /*
     * Masked on the way in: the copy into the batch is the one pass a payload's bytes take here. A
     * mask guards proxies on a network path; a Unix socket has none, and the call ring's bytes are
     * read from shared memory: those batches keep the zero mask (still a valid frame) and cost no
     * random bytes and no XOR per call.
     */
    if (c->batch_len == 0 && (c->local || c->ring != NULL))
        memset(c->batch_mask, 0, sizeof c->batch_mask);
    else if (c->batch_len == 0 && gp_ws_new_mask(c->batch_mask) != 0) {
        pthread_mutex_unlock(&c->batch_lock);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (parts[i].iov_len == 0)
            continue;
        if (c->local)
            memcpy(c->batch + c->batch_len, parts[i].iov_base, parts[i].iov_len);
        else
            gp_ws_mask_copy(c->batch + c->batch_len, parts[i].iov_base, parts[i].iov_len, c->batch_mask, c->batch_len);
        c->batch_len += parts[i].iov_len;
    }
    if (pending != NULL) {
        pending->next = c->pending;
        c->pending = pending;
    }
    /* A sync call flushes the batch itself; only fire-and-forget work needs the sender thread, and
     * only a sleeping one needs waking (a busy one looks at the batch again once its send is done).
     * With a call ring it goes from this thread when the session must be rung anyway, waits for work,
     * or the batch is large (gp_ring_flush_now); while the session is busy the batch grows, so that a
     * stream of launches travels in few records, and the ring's reply reader flushes it if the session
     * runs dry first: the sender thread is not woken per call. */
    int now = c->ring != NULL && (pending == NULL || pending->deferred) && gp_ring_flush_now(c, c->batch_len, c->batch_len == len);
    if ((pending == NULL || pending->deferred) && !now && c->sender_waiting && c->ring == NULL)
        pthread_cond_signal(&c->batch_ready);
    pthread_mutex_unlock(&c->batch_lock);
    if (now)
        gp_conn_flush(c);
    return 0;
}

CUresult gp_conn_wait(gp_conn *c, gp_pending *e)
{
    if (c->ring != NULL)
        return gp_ring_wait(c, e);
    pthread_mutex_lock(&c->batch_lock);
    c->waiters++;
    while (!e->done) {
        /* Leader/follower: with the socket free this thread reads until its own reply has come
         * (others' on the way), so that a reply costs no wake-up of another thread. */
        if (!c->reading && !c->dead) {
            if (read_turn(c) != 0)
                break; /* mark_dead marked every entry done */
            continue;
        }
        pthread_cond_wait(&e->cond, &c->batch_lock);
    }
    c->waiters--;
    clock_gettime(CLOCK_MONOTONIC, &c->last_wait);
    pthread_mutex_unlock(&c->batch_lock);
    return e->rc;
}

CUresult gp_conn_take_deferred_error(gp_conn *c)
{
    pthread_mutex_lock(&c->batch_lock);
    CUresult rc = c->deferred_error;
    c->deferred_error = CUDA_SUCCESS;
    pthread_mutex_unlock(&c->batch_lock);
    return rc;
}

uint64_t gp_conn_next_seq(gp_conn *c)
{
    return __atomic_add_fetch(&c->next_seq, 1, __ATOMIC_RELAXED);
}

/* A size: digits (a fraction allowed), then a unit as tokens.ts's parseBytes reads it. 0 when bad. */
static uint64_t parse_size(const char *text)
{
    static const struct { const char *unit; double scale; } units[] = {
        { "", 1 }, { "b", 1 }, { "k", 1e3 }, { "kb", 1e3 }, { "m", 1e6 }, { "mb", 1e6 }, { "g", 1e9 }, { "gb", 1e9 },
        { "t", 1e12 }, { "tb", 1e12 }, { "ki", 1024.0 }, { "kib", 1024.0 }, { "mi", 1048576.0 }, { "mib", 1048576.0 },
        { "gi", 1073741824.0 }, { "gib", 1073741824.0 }, { "ti", 1099511627776.0 }, { "tib", 1099511627776.0 },
    };
    const char *p = text;
    if (*p < '0' || *p > '9')
        return 0;
    char *end = NULL;
    double value = strtod(p, &end);
    if (end == p)
        return 0;
    while (*end == ' ')
        end++;
    char unit[8];
    size_t n = strlen(end);
    if (n >= sizeof unit)
        return 0;
    for (size_t i = 0; i <= n; i++)
        unit[i] = (char)((end[i] >= 'A' && end[i] <= 'Z') ? end[i] - 'A' + 'a' : end[i]);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            double bytes = value * units[i].scale;
            if (!(bytes >= 1 && bytes <= 9007199254740991.0) || bytes != (double)(uint64_t)bytes)
                return 0;
            return (uint64_t)bytes;
        }
    }
    return 0;
}

#define REQUEST_KEYS "mem, share, limit, priority, gpus, policy, wait, cards, namespace, pod, container, job, user"

const char *const GP_WORKLOAD_KEYS[GP_WORKLOAD_COUNT] = {"namespace", "pod", "container", "job", "user"};

/* The workload key's index, or -1. */
static int workload_key(const char *key)
{
    for (int i = 0; i < GP_WORKLOAD_COUNT; i++)
        if (strcmp(key, GP_WORKLOAD_KEYS[i]) == 0)
            return i;
    return -1;
}

/* A workload name: 1 to GP_WORKLOAD_MAX letters, digits, '.', '_', '-' or '@'. */
static int workload_ok(const char *value)
{
    size_t n = strlen(value);
    return n >= 1 && n <= GP_WORKLOAD_MAX && strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@") == n;
}

/* A whole number from lo to hi, nothing after it. */
static int parse_count(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    if (*text < '0' || *text > '9')
        return -1;
    long v = strtol(text, &end, 10);
    if (*end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int gp_request_apply(const char *what, const char *text, const char *separators, gp_request *out, char *why, size_t why_len)
{
    char copy[512];
    if (strlen(text) >= sizeof copy) {
        snprintf(why, why_len, "%s: too long", what);
        return -1;
    }
    strcpy(copy, text);
    out->present = 1;
    char *save = NULL;
    for (char *item = strtok_r(copy, separators, &save); item != NULL; item = strtok_r(NULL, separators, &save)) {
        while (*item == ' ')
            item++;
        size_t len = strlen(item);
        while (len > 0 && item[len - 1] == ' ')
            item[--len] = '\0';
        if (len == 0)
            continue;
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(why, why_len, "%s: \"%s\" is not key=value (keys: " REQUEST_KEYS "; e.g. mem=8GiB,share=0.25,priority=high,gpus=2)", what, item);
            return -1;
        }
        *eq = '\0';
        const char *key = item, *value = eq + 1;
        long n = 0;
        if (strcmp(key, "mem") == 0) {
            out->mem = parse_size(value);
            if (out->mem == 0) {
                snprintf(why, why_len, "%s: mem=%s is not a size in bytes (e.g. 8GiB, 512MiB, 2000000000)", what, value);
                return -1;
            }
        } else if (strcmp(key, "share") == 0) {
            char *end = NULL;
            double share = strtod(value, &end);
            /* The daemon's MIN_SHARE (src/sharing/placement.ts): below it a share cannot be kept. */
            if (end == value || *end != '\0' || !(share >= 0.01 && share <= 1)) {
                snprintf(why, why_len, "%s: share=%s is not a number from 0.01 to 1 (e.g. 0.25)", what, value);
                return -1;
            }
            out->has_share = 1;
            out->share = share;
        } else if (strcmp(key, "priority") == 0) {
            /* A class, optionally with a level inside it: high, low:3 (docs/sharing.md). */
            size_t cls = strcspn(value, ":");
            int known = (cls == 4 && strncmp(value, "high", 4) == 0) || (cls == 6 && strncmp(value, "normal", 6) == 0) ||
                        (cls == 3 && strncmp(value, "low", 3) == 0);
            int level_ok = value[cls] == '\0' || (value[cls + 1] >= '0' && value[cls + 1] <= '9' && value[cls + 2] == '\0');
            if (!known || !level_ok) {
                snprintf(why, why_len, "%s: priority=%s is not high, normal or low (with an optional level 0-9: high:5)", what, value);
                return -1;
            }
            snprintf(out->priority, sizeof out->priority, "%s", value);
        } else if (strcmp(key, "limit") == 0) {
            int yes = strcmp(value, "1") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0;
            int no = strcmp(value, "0") == 0 || strcmp(value, "no") == 0 || strcmp(value, "false") == 0;
            if (!yes && !no) {
                snprintf(why, why_len, "%s: limit=%s is not yes or no (yes: the share is also a cap)", what, value);
                return -1;
            }
            out->limit = yes;
        } else if (strcmp(key, "gpus") == 0) {
            if (strcmp(value, "all") == 0) {
                out->gpus = GP_GPUS_ALL;
            } else if (parse_count(value, 1, 256, &n) == 0) {
                out->gpus = (int)n;
            } else {
                snprintf(why, why_len, "%s: gpus=%s is not a number of cards from 1 to 256, or all", what, value);
                return -1;
            }
        } else if (strcmp(key, "policy") == 0) {
            if (strcmp(value, "binpack") != 0 && strcmp(value, "spread") != 0) {
                snprintf(why, why_len, "%s: policy=%s is not binpack or spread", what, value);
                return -1;
            }
            snprintf(out->policy, sizeof out->policy, "%s", value);
        } else if (strcmp(key, "wait") == 0) {
            if (parse_count(value, 0, 86400, &n) != 0) {
                snprintf(why, why_len, "%s: wait=%s is not a whole number of seconds from 0 to 86400", what, value);
                return -1;
            }
            out->has_wait = 1;
            out->wait = (unsigned)n;
        } else if (strcmp(key, "cards") == 0) {
            /* Ordinals joined by '+' (',' and '&' separate keys): 0+2. */
            out->ncards = 0;
            const char *at = value;
            for (;;) {
                char *end = NULL;
                long ordinal = (*at >= '0' && *at <= '9') ? strtol(at, &end, 10) : -1;
                if (ordinal < 0 || ordinal > 255 || out->ncards == GP_REQUEST_CARDS || (*end != '+' && *end != '\0')) {
                    snprintf(why, why_len, "%s: cards=%s is not card ordinals 0-255 joined by + (e.g. 0+2)", what, value);
                    out->ncards = 0;
                    return -1;
                }
                out->cards[out->ncards++] = (unsigned)ordinal;
                if (*end == '\0')
                    break;
                at = end + 1;
            }
        } else if (workload_key(key) >= 0) {
            if (!workload_ok(value)) {
                snprintf(why, why_len, "%s: %s=%s is not 1 to %d letters, digits, '.', '_', '-' or '@'", what, key, value, GP_WORKLOAD_MAX);
                return -1;
            }
            snprintf(out->workload[workload_key(key)], sizeof out->workload[0], "%s", value);
        } else {
            snprintf(why, why_len, "%s: unknown key \"%s\" (keys: " REQUEST_KEYS ")", what, key);
            return -1;
        }
    }
    return 0;
}

int gp_request_parse(const char *text, gp_request *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    char what[600];
    snprintf(what, sizeof what, "GPUPOOL_REQUEST=\"%s\"", text);
    return gp_request_apply(what, text, ",", out, why, why_len);
}

/* HELLO (src/protocol/frames.ts `handshake.hello`), by the generated encoder; 0 when it does not fit. */
static size_t encode_hello(char *buf, size_t cap, const char *token, const gp_request *request)
{
    char program[256] = "";
    ssize_t n = readlink("/proc/self/exe", program, sizeof program - 1);
    program[n > 0 ? n : 0] = '\0';
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    gp_map_request_out r = { 0 };
    gp_map_hello_out h = {
        /* The daemon may send notices before WELCOME or its refusal: progress while held, the whole reason. */
        .has = GP_KEY_HELLO_NOTICES | GP_KEY_HELLO_PROTOCOL | GP_KEY_HELLO_DIGEST | GP_KEY_HELLO_CUDA | GP_KEY_HELLO_TOKEN |
               GP_KEY_HELLO_PID | GP_KEY_HELLO_HOST | GP_KEY_HELLO_PROGRAM,
        .nil = token ? 0 : GP_KEY_HELLO_TOKEN,
        .notices = 1,
        .protocol = 1,
        .digest = GP_PROTOCOL_DIGEST,
        .cuda = 13000,
        .token = token,
        .pid = (uint64_t)getpid(),
        .host = host,
        .program = program,
    };
    if (request != NULL && request->present) {
        /* Keys not given travel as nil (the daemon's defaults); cards and the workload's names only when given. */
        r.has = GP_KEY_REQUEST_LIMIT | GP_KEY_REQUEST_MEM | GP_KEY_REQUEST_SHARE | GP_KEY_REQUEST_PRIORITY | GP_KEY_REQUEST_GPUS |
                GP_KEY_REQUEST_POLICY | GP_KEY_REQUEST_WAIT;
        r.limit = request->limit != 0;
        r.mem = request->mem;
        r.nil |= request->mem ? 0 : GP_KEY_REQUEST_MEM;
        r.share = request->share;
        r.nil |= request->has_share ? 0 : GP_KEY_REQUEST_SHARE;
        r.priority = request->priority;
        r.nil |= request->priority[0] ? 0 : GP_KEY_REQUEST_PRIORITY;
        r.gpus = request->gpus > 0 ? (uint64_t)request->gpus : 0;
        r.gpus_is_all = request->gpus == GP_GPUS_ALL;
        r.nil |= request->gpus == 0 ? GP_KEY_REQUEST_GPUS : 0;
        r.policy = request->policy;
        r.nil |= request->policy[0] ? 0 : GP_KEY_REQUEST_POLICY;
        r.wait = request->wait;
        r.nil |= request->has_wait ? 0 : GP_KEY_REQUEST_WAIT;
        if (request->ncards > 0) {
            r.has |= GP_KEY_REQUEST_CARDS;
            r.cards = request->cards;
            r.cards_count = (uint32_t)request->ncards;
        }
        const uint32_t names[GP_WORKLOAD_COUNT] = { GP_KEY_REQUEST_NAMESPACE, GP_KEY_REQUEST_POD, GP_KEY_REQUEST_CONTAINER, GP_KEY_REQUEST_JOB,
                                                    GP_KEY_REQUEST_USER };
        const char **values[GP_WORKLOAD_COUNT] = { &r.namespace_, &r.pod, &r.container, &r.job, &r.user };
        for (int i = 0; i < GP_WORKLOAD_COUNT; i++) {
            if (request->workload[i][0] == '\0')
                continue;
            r.has |= names[i];
            *values[i] = request->workload[i];
        }
        h.has |= GP_KEY_HELLO_REQUEST;
        h.request = &r;
    }
    if (gp_map_hello_bound(&h) > cap)
        return 0;
    return (size_t)(gp_map_hello_encode(buf, &h) - buf);
}

int gp_conn_open(gp_conn *c, const char *url, int index, const char *token, const gp_request *request, char *why, size_t why_len,
                 gp_device_sink sink, void *user)
{
    memset(c, 0, sizeof *c);
    c->index = index;
    pthread_mutex_init(&c->batch_lock, NULL);
    pthread_mutex_init(&c->send_order, NULL);
    pthread_cond_init(&c->batch_ready, NULL);
    pthread_condattr_t mono;
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&c->reader_turn, &mono);
    pthread_condattr_destroy(&mono);
    c->silence_ms = silence_ms();
    if (parse_url(c, url, why, why_len) != 0)
        return -1;
    c->ws = gp_ws_connect(c->host, c->port, c->path, c->tls, 10000, why, why_len);
    if (c->ws == NULL)
        return -1;
    char hello[4096];
    size_t len = encode_hello(hello, sizeof hello, token, request);
    struct iovec part = { .iov_base = hello, .iov_len = len };
    uint8_t *buf = NULL;
    size_t cap = 0, got = 0;
    /* A daemon may hold the handshake for the request's `wait` until cards have room. */
    int handshake_ms = 15000 + (request != NULL && request->has_wait ? (int)request->wait * 1000 : 0);
    static gp_notice refusal; /* one handshake at a time (cuInit's once); too large for the stack's comfort */
    refusal.kind[0] = '\0';
    int failed = len == 0 || gp_ws_send(c->ws, &part, 1) != 0;
    while (!failed) {
        gp_notice notice;
        if (gp_ws_recv(c->ws, &buf, &cap, &got, handshake_ms) != 0) {
            failed = 1;
        } else if (gp_decode_notice(buf, got, &notice) != 1) {
            break; /* WELCOME */
        } else if (strcmp(notice.kind, "waiting") == 0) {
            /* Said whatever GPUPOOL_DEBUG says: the job asked to wait, and its owner should see why. */
            gp_error("%s: waiting for room (%llu s of %llu s): %s", url, (unsigned long long)notice.waited_s, (unsigned long long)notice.wait_s, notice.reason);
        } else if (strcmp(notice.kind, "refused") == 0) {
            refusal = notice;
        }
    }
    if (failed) {
        /* The refusal notice holds the whole reason; the close frame's is cut to 123 bytes. */
        const char *reason = gp_ws_close_reason(c->ws);
        if (refusal.kind[0] != '\0')
            snprintf(why, why_len, "%s refused the connection: %u %s", url, refusal.code, refusal.reason);
        else if (reason)
            snprintf(why, why_len, "%s refused the connection: %s", url, reason);
        else
            snprintf(why, why_len, "%s: the daemon closed the connection during the handshake (see the daemon's log)", url);
        free(buf);
        return -1;
    }
    sink(c, buf, got, user);
    free(buf);
    gp_ring_open(c);
    if (pthread_create(&c->receiver, NULL, receiver_main, c) != 0 || pthread_create(&c->sender, NULL, sender_main, c) != 0 ||
        gp_ring_start(c) != 0) {
        snprintf(why, why_len, "cannot start the connection threads");
        return -1;
    }
    c->threads_started = 1;
    return 0;
}

void gp_conn_close(gp_conn *c)
{
    if (!c->threads_started)
        return;
    pthread_mutex_lock(&c->batch_lock);
    c->stopping = 1;
    pthread_cond_broadcast(&c->batch_ready);
    pthread_cond_broadcast(&c->reader_turn);
    pthread_mutex_unlock(&c->batch_lock);
    /* Whatever the job queued goes out, then a normal Close: the daemon runs it all, then frees. */
    if (gp_conn_flush(c) == 0) {
        gp_ring_drain(c);
        (void)gp_ws_close(c->ws, 1000);
    }
    gp_ws_shutdown(c->ws);
    pthread_join(c->sender, NULL);
    pthread_join(c->receiver, NULL);
    gp_ring_stop(c);
    c->threads_started = 0;
    free(c->rbuf);
    c->rbuf = NULL;
}
