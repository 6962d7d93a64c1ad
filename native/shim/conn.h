/* One connection to one daemon: its batch of frames, its senders, its receiver, its pending replies. */
#ifndef GPUPOOL_SHIM_CONN_H
#define GPUPOOL_SHIM_CONN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cuda.h>

#include "gp_frames.h"
#include "ws.h"

typedef struct gp_pending {
    uint64_t seq;
    int done;
    CUresult rc;
    uint8_t *reply;        /* the reply's out values (after seq and rc), owned here */
    size_t reply_len;
    void *out_dst;         /* an out buffer the receiver fills directly (device-to-host copies) */
    size_t out_len;
    int deferred;          /* nobody waits: the receiver frees it */
    pthread_cond_t cond;
    struct gp_pending *next;
} gp_pending;

typedef struct gp_conn {
    int index;
    char url[256];
    char host[160], port[16], path[128]; /* unix://: host is the socket's path, port is empty */
    int tls;                      /* wss:// */
    gp_ws *ws;
    uint64_t session;

    pthread_mutex_t batch_lock;   /* guards everything below but the send side */
    pthread_cond_t batch_ready;
    uint8_t *batch;               /* masked as it is filled, with batch_mask: the WebSocket frame's payload */
    size_t batch_len, batch_cap;
    uint8_t batch_mask[4];
    uint64_t next_seq;
    gp_pending *pending;
    CUresult deferred_error; /* a failed deferred call's result, for the next sync call to report */
    int dead;
    int stopping;
    int sender_waiting;           /* the sender thread sleeps on batch_ready: only then is a wake-up needed */
    int local;                    /* unix://: the batch is sent unmasked (a zero mask), see gp_conn_append */

    pthread_mutex_t send_order;   /* held from taking a batch to having sent it: batches leave in order */
    uint8_t *spare;
    size_t spare_cap;

    /*
     * Reading (leader/follower, TCP): whoever waits for a sync reply reads the socket itself, one
     * thread at a time (`reading`), so that a reply costs no wake-up of another thread. The receiver
     * thread reads once callers have been away GP_RECEIVER_QUIET_MS (pongs, deferred calls' replies,
     * output frames while the program computes); a caller that finds it reading waits as before, and
     * it steps aside after that message. Under batch_lock but rbuf, which is the reader's.
     */
    int reading;                  /* a thread holds the socket's read side */
    int waiters;                  /* callers in gp_conn_wait */
    struct timespec last_wait;    /* CLOCK_MONOTONIC: when a caller last finished waiting */
    pthread_cond_t reader_turn;   /* the receiver, stepped aside */
    int silence_ms;
    uint8_t *rbuf;
    size_t rcap;

    pthread_t sender, receiver;
    int threads_started;

    struct gp_ring *ring;  /* the call ring with a local daemon (ring.h), or NULL */
    int ring_socket_next;  /* descriptors went on the socket: the next message follows them there */
    int placing;           /* the receiver reads a reply into a copy's memory: waiters fail after it (conn.c) */
} gp_conn;

/* `clock` now plus ns, for pthread_cond_timedwait (whose condition was made on that clock). */
static inline struct timespec gp_deadline_in(clockid_t clock, long long ns)
{
    struct timespec t;
    clock_gettime(clock, &t);
    ns += t.tv_nsec;
    t.tv_sec += (time_t)(ns / 1000000000LL);
    t.tv_nsec = (long)(ns % 1000000000LL);
    return t;
}

/* A caller waited within this long: the receiver leaves the socket to the callers and looks again after as long. */
#define GP_RECEIVER_QUIET_MS 20

/* gp_request.gpus: every card of the daemon. */
#define GP_GPUS_ALL (-1)

/*
 * What the job asks of each daemon (GPUPOOL_REQUEST, docs/operations.md): sent in HELLO's `request`.
 * mem 0: the daemon's default quota; has_share 0 / priority "" / gpus 0 / policy "" / has_wait 0:
 * none given.
 */
/* The workload identity keys of a request (docs/operations.md): a cluster engine's names for the job. */
#define GP_WORKLOAD_COUNT 5 /* namespace, pod, container, job, user: keys of HELLO's request */
#define GP_WORKLOAD_MAX GP_KEY_REQUEST_NAMESPACE_MAX
#define GP_REQUEST_CARDS GP_KEY_REQUEST_CARDS_MAX
extern const char *const GP_WORKLOAD_KEYS[GP_WORKLOAD_COUNT];

typedef struct gp_request {
    int present;
    uint64_t mem;
    int has_share;
    int limit; /* the share is also a cap (gpupool run --share-limit) */
    double share;
    char priority[32];
    int gpus;             /* cards wanted from the daemon, or GP_GPUS_ALL */
    char policy[16];      /* binpack or spread */
    int has_wait;
    unsigned wait;        /* seconds the daemon may hold the handshake until cards have room */
    /* Who the job is, for status and metrics (GP_WORKLOAD_KEYS, in order); "" where not given. */
    char workload[GP_WORKLOAD_COUNT][GP_WORKLOAD_MAX + 1];
    /* The daemon's cards (CUDA ordinals) the session may be given, `cards=0+2`; ncards 0: any. */
    int ncards;
    unsigned cards[GP_REQUEST_CARDS];
} gp_request;

/* Parses GPUPOOL_REQUEST's text ("mem=8GiB,share=0.25,priority=high,gpus=2"). 0, or -1 with *why. */
int gp_request_parse(const char *text, gp_request *out, char *why, size_t why_len);

/*
 * Applies `text`'s keys, separated by any of `separators`, over what `out` holds (a server's own
 * request in GPUPOOL_SERVERS: `ws://HOST:PORT?gpus=2&wait=60`). Messages start with `what`. 0, or -1.
 */
int gp_request_apply(const char *what, const char *text, const char *separators, gp_request *out, char *why, size_t why_len);

/* Connects and greets the daemon; fills devices through the callback. 0, or -1 with *why. */
typedef void (*gp_device_sink)(gp_conn *conn, const uint8_t *welcome, size_t len, void *user);
int gp_conn_open(gp_conn *conn, const char *url, int index, const char *token, const gp_request *request, char *why,
                 size_t why_len, gp_device_sink sink, void *user);

/*
 * Appends one encoded frame, given in pieces (its header, its arguments, a copy's bytes taken by
 * reference). A pending entry (seq != 0) is registered in the same critical section, so its reply
 * can never overtake the registration. -1 when dead.
 */
int gp_conn_append(gp_conn *conn, const struct iovec *parts, int count,
                   gp_pending *pending);

/* Sends whatever is batched now, on the calling thread (sync calls do not wait for the sender thread). */
int gp_conn_flush(gp_conn *conn);

/* Waits until the pending reply arrived or the connection died. */
CUresult gp_conn_wait(gp_conn *conn, gp_pending *pending);

uint64_t gp_conn_next_seq(gp_conn *conn);

/* One message of replies, delivered to their waiters (the socket's receiver, the call ring). 0, or -1 when malformed. */
int gp_conn_deliver(gp_conn *conn, const uint8_t *data, size_t len);
/* The daemon is lost (said once): every waiter fails. */
void gp_conn_mark_dead(gp_conn *conn, const char *why);

/* The first failure of a deferred call since the last time it was taken (CUDA_SUCCESS: none). */
CUresult gp_conn_take_deferred_error(gp_conn *conn);
void gp_conn_close(gp_conn *conn);

#endif
