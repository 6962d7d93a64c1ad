#define _GNU_SOURCE
#include "call.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <msgpuck.h>

#include "client.h"
#include "decode.h"
#include "gp_frames.h"
#include "gp_ops.h"
#include "shim.h"

/* Calls may nest (a launch asks for a kernel's parameter layout first), so each thread has a few. */
#define MAX_DEPTH 4

struct gp_call {
    uint32_t op;
    int mode;
    int server;
    int depth;
    char *args;
    size_t len, cap;
    uint32_t argc;
    CUcontext route_ctx; /* the context of the allocation that routed the call, if any */
    int by_address;      /* routed by an address alone, which several daemons may hold */
    uint64_t address;
    /* Open nested arrays (launch attributes): values left in each; a closed array is one value. */
    uint32_t nest_left[4];
    int nest_depth;
    void *expect_dst;
    size_t expect_len;
    /* gp_put_bin_ref's bytes, which belong at args[ref_at] */
    const void *ref_data;
    size_t ref_len, ref_at;
    gp_pending pending;
    gp_reader reply; /* the reply's out values, read by gp_get_* */
    int finished;
};

static __thread gp_call tls_calls[MAX_DEPTH];
static __thread int tls_depth;

/* A thread's argument buffers go with the thread: programs start and end threads that make calls. */
static pthread_key_t g_calls_key;
static pthread_once_t g_calls_once = PTHREAD_ONCE_INIT;

static void free_thread_calls(void *calls)
{
    gp_call *c = calls;
    for (int i = 0; i < MAX_DEPTH; i++) {
        free(c[i].args);
        c[i].args = NULL;
        c[i].cap = 0;
    }
}

static void make_calls_key(void)
{
    pthread_key_create(&g_calls_key, free_thread_calls);
}

gp_call *gp_call_begin(uint32_t op, int mode)
{
    if (tls_depth >= MAX_DEPTH)
        abort(); /* a programming error in the client library, never the application's */
    gp_call *c = &tls_calls[tls_depth];
    c->depth = tls_depth++;
    c->op = op;
    c->mode = mode;
    c->server = -1;
    c->len = 0;
    c->argc = 0;
    c->route_ctx = NULL;
    c->by_address = 0;
    c->address = 0;
    c->nest_depth = 0;
    c->expect_dst = NULL;
    c->expect_len = 0;
    c->ref_data = NULL;
    c->ref_len = c->ref_at = 0;
    c->reply.pos = c->reply.end = NULL;
    c->finished = 0;
    /* Only a call that waits for an answer uses its pending record (gp_call_finish). */
    if (mode != GP_MODE_ASYNC)
        memset(&c->pending, 0, sizeof c->pending);
    return c;
}

static char *reserve(gp_call *c, size_t n)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->len + n)
            cap *= 2;
        char *p = realloc(c->args, cap);
        if (p == NULL)
            abort();
        if (c->args == NULL) {
            pthread_once(&g_calls_once, make_calls_key);
            pthread_setspecific(g_calls_key, tls_calls);
        }
        c->args = p;
        c->cap = cap;
    }
    return c->args + c->len;
}

/* One complete value was written: an argument, or an element of the innermost open array. */
static void count_value(gp_call *c)
{
    while (c->nest_depth > 0) {
        if (--c->nest_left[c->nest_depth - 1] > 0)
            return;
        c->nest_depth--; /* that array is complete: it is one value of its parent */
    }
    c->argc++;
}

#define PUT(c, size, expr)                                  \
    do {                                                    \
        char *start_ = reserve((c), (size));                \
        char *p_ = start_;                                  \
        p_ = (expr);                                        \
        (c)->len += (size_t)(p_ - start_);                  \
        count_value(c);                                     \
    } while (0)

void gp_put_int(gp_call *c, int64_t v)
{
    if (v >= 0)
        PUT(c, 9, mp_encode_uint(p_, (uint64_t)v));
    else
        PUT(c, 9, mp_encode_int(p_, v));
}

void gp_put_uint(gp_call *c, uint64_t v) { PUT(c, 9, mp_encode_uint(p_, v)); }
void gp_put_float(gp_call *c, double v) { PUT(c, 9, mp_encode_double(p_, v)); }
void gp_put_bool(gp_call *c, int v) { PUT(c, 1, mp_encode_bool(p_, v != 0)); }
void gp_put_array(gp_call *c, uint32_t n)
{
    if (n == 0 || c->nest_depth == 4) {
        PUT(c, 5, mp_encode_array(p_, n));
        return;
    }
    char *start = reserve(c, 5);
    c->len += (size_t)(mp_encode_array(start, n) - start);
    c->nest_left[c->nest_depth++] = n;
}

void gp_put_bin(gp_call *c, const void *data, size_t n)
{
    PUT(c, mp_sizeof_bin((uint32_t)n), mp_encode_bin(p_, data ? data : "", (uint32_t)n));
}

void gp_put_bin_ref(gp_call *c, const void *data, size_t n)
{
    if (c->ref_data != NULL || data == NULL || n == 0) {
        gp_put_bin(c, data, n);
        return;
    }
    PUT(c, 5, mp_encode_binl(p_, (uint32_t)n));
    c->ref_data = data;
    c->ref_len = n;
    c->ref_at = c->len;
}

void gp_put_str(gp_call *c, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    PUT(c, mp_sizeof_str((uint32_t)n), mp_encode_str(p_, s ? s : "", (uint32_t)n));
}

void gp_put_handle(gp_call *c, const void *handle) { gp_put_uint(c, gp_handle_id(handle)); }

char *gp_put_reserve(gp_call *c, size_t n) { return reserve(c, n); }

void gp_put_commit(gp_call *c, const char *end, uint32_t values)
{
    c->len = (size_t)(end - c->args);
    c->argc += values; /* frames are whole arguments, never inside an open array */
}

void gp_route_server(gp_call *c, int server)
{
    if (c->server < 0)
        c->server = server;
}

int gp_call_server(const gp_call *c) { return c->server; }

CUresult gp_route_device(gp_call *c, CUdevice dev, int *remote)
{
    const gp_device *d = gp_device_get(dev);
    if (d == NULL)
        return CUDA_ERROR_INVALID_DEVICE;
    gp_route_server(c, d->server);
    *remote = d->remote_ordinal;
    return CUDA_SUCCESS;
}

/* The allocation holding ptr on `server`'s daemon: its context, or NULL when that daemon holds none there. */
static CUcontext context_on(int server, uint64_t ptr)
{
    CUcontext ctx = NULL;
    int previous = gp_prefer_server(server);
    int found = gp_alloc_lookup((CUdeviceptr)ptr, 1, &ctx);
    gp_prefer_server(previous);
    return found == server ? ctx : NULL;
}

/*
 * A handle names its daemon; an address may not (two daemons may hold the same addresses). So a
 * handle outranks an address that routed the call before it: a copy on a stream goes to the stream's
 * daemon, in the same stream order as the kernels queued there, whichever device is current.
 */
CUresult gp_route_handle(gp_call *c, const void *handle)
{
    int server = gp_handle_server(handle);
    if (server == -1)
        return CUDA_SUCCESS; /* NULL or a special stream: the current context decides */
    if (server < 0 || server >= gp_server_count())
        return CUDA_ERROR_INVALID_HANDLE;
    if (c->by_address && c->server != server) {
        c->server = server;
        c->route_ctx = context_on(server, c->address);
    }
    c->by_address = 0;
    gp_route_server(c, server);
    return CUDA_SUCCESS;
}

void gp_route_dptr(gp_call *c, uint64_t ptr)
{
    if (c->server >= 0) {
        /* Routed already (by a handle or another address) away from the current context's daemon:
         * the context of this memory there, if any, as the current context cannot be sent there. */
        if (c->route_ctx == NULL && gp_context_server(gp_tls_context()) != c->server)
            c->route_ctx = context_on(c->server, ptr);
        return;
    }
    CUcontext ctx = NULL;
    int server = gp_alloc_lookup((CUdeviceptr)ptr, 1, &ctx);
    if (server >= 0) {
        c->server = server;
        c->route_ctx = ctx;
        c->by_address = 1;
        c->address = ptr;
    } else if (gp_preferred_context() != NULL) {
        /* A context the caller named decides, even for memory the client has no record of. */
        c->route_ctx = gp_preferred_context();
        c->server = gp_context_server(c->route_ctx);
    }
}

void gp_expect_out(gp_call *c, void *dst, size_t n)
{
    c->expect_dst = dst;
    c->expect_len = n;
}

static int resolve_server(gp_call *c)
{
    if (c->server < 0)
        c->server = gp_context_server(gp_tls_context());
    if (c->server < 0 && gp_server_count() > 0)
        c->server = 0; /* no context: the daemon's driver gives the error CUDA would */
    return c->server;
}

CUresult gp_call_finish(gp_call *c)
{
    c->finished = 1;
    int server = resolve_server(c);
    gp_conn *conn = server >= 0 ? gp_server(server) : NULL;
    if (conn == NULL)
        return CUDA_ERROR_INVALID_CONTEXT;
    /*
     * The context of the memory the call names, if it names some (with unified addressing a copy
     * works whichever context is current); else the thread's current context.
     */
    CUcontext ctx = c->route_ctx ? c->route_ctx : gp_tls_context();
    uint64_t ctx_id = gp_handle_server(ctx) == server ? gp_handle_id(ctx) : 0;

    gp_pending *pending = NULL;
    uint64_t seq = 0;
    if (c->mode != GP_MODE_ASYNC) {
        seq = gp_conn_next_seq(conn);
        if (c->mode == GP_MODE_DEFERRED) {
            pending = calloc(1, sizeof *pending);
            if (pending == NULL)
                return CUDA_ERROR_OUT_OF_MEMORY;
            pending->deferred = 1;
        } else {
            pending = &c->pending;
            pthread_cond_init(&pending->cond, NULL);
        }
        pending->seq = seq;
        pending->out_dst = c->expect_dst;
        pending->out_len = c->expect_len;
    }
    char head[32];
    const gp_frame_call call = { .op = c->op, .seq = seq, .ctx = ctx_id };
    char *h = gp_frame_call_encode(head, &call, c->argc);
    const struct iovec parts[4] = {
        { head, (size_t)(h - head) },
        { c->args, c->ref_data ? c->ref_at : c->len },
        { (void *)c->ref_data, c->ref_len },
        { c->ref_data ? c->args + c->ref_at : NULL, c->ref_data ? c->len - c->ref_at : 0 },
    };
    if (gp_conn_append(conn, parts, 4, pending) != 0) {
        if (pending && pending->deferred)
            free(pending);
        return CUDA_ERROR_DEVICE_UNAVAILABLE;
    }
    if (c->mode != GP_MODE_SYNC)
        return CUDA_SUCCESS;
    gp_conn_flush(conn);
    CUresult rc = gp_conn_wait(conn, pending);
    /*
     * Replies come in order, so a deferred call sent before this one has answered by now. A region of
     * shared memory is no CUDA call: the error stays for the next one.
     */
    CUresult deferred = c->op == GP_OP_SHM_REGION ? CUDA_SUCCESS : gp_conn_take_deferred_error(conn);
    if (rc == CUDA_SUCCESS && deferred != CUDA_SUCCESS)
        rc = deferred;
    c->reply.pos = (const char *)pending->reply;
    c->reply.end = c->reply.pos + pending->reply_len;
    return rc;
}

int64_t gp_get_int(gp_call *c) { return gp_read_int(&c->reply); }
uint64_t gp_get_uint(gp_call *c) { return gp_read_uint(&c->reply); }
double gp_get_float(gp_call *c) { return gp_read_float(&c->reply); }

CUdevice gp_get_device(gp_call *c)
{
    return gp_device_global(c->server, (int)gp_get_int(c));
}

void *gp_get_handle(gp_call *c)
{
    return gp_tag_handle(c->server, gp_get_uint(c));
}

void gp_get_bin(gp_call *c, void *dst, size_t n) { gp_read_bin(&c->reply, dst, n); }
void gp_get_str(gp_call *c, char *dst, size_t n) { gp_read_str(&c->reply, dst, n); }

void gp_call_end(gp_call *c)
{
    if (c->finished && c->mode == GP_MODE_SYNC) {
        free(c->pending.reply);
        pthread_cond_destroy(&c->pending.cond);
    }
    c->pending.reply = NULL;
    tls_depth = c->depth;
}
