/*
 * Shared memory with the daemons of this host (shm.h). A region is a memfd, sealed so that it can
 * never shrink under the daemon (a page gone from its mapping would be a SIGBUS there), passed on a
 * WebSocket ping's bytes and then named by a region frame; the pairing of descriptor and frame holds
 * because one thread at a time passes them (g_pass_lock) and the daemon takes descriptors in order.
 *
 * Staging (pageable memory): a region of STAGING_SLOTS slots after a page of signal words, one per
 * slot. Each slice of a copy names its slot's word and the value the daemon sets there once it is
 * done with the slot (a futex shared by both processes); the client reuses a slot only after that.
 */
#define _GNU_SOURCE
#include "shm.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "client.h"
#include "conn.h"
#include "gp_frames.h"
#include "gp_ops.h"
#include "shim.h"
#include "ws.h"

#define MAX_LOCAL 64 /* client.c's MAX_SERVERS */
#define STAGING_SLOTS 4
#define STAGING_SLOT GP_SHM_STAGE_SLOT
#define STAGING_HEAD ((size_t)4096)

typedef struct region {
    uint32_t id;
    unsigned char *base;
    size_t bytes;
    uint64_t servers; /* the daemons that mapped it, by index */
    struct region *next;
} region;

typedef struct gp_shm_stage {
    int refused; /* the daemon takes no shared memory (not native, not allowed): the socket path */
    int server;
    pthread_mutex_t staging_lock;
    region *staging;
    uint32_t issued[STAGING_SLOTS];
} local_daemon;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* g_regions */
static pthread_mutex_t g_pass_lock = PTHREAD_MUTEX_INITIALIZER;
static region *g_regions;
static uint32_t g_next_id = 1;
static local_daemon g_local[MAX_LOCAL];
static pthread_once_t g_local_once = PTHREAD_ONCE_INIT;

static void init_local(void)
{
    for (int i = 0; i < MAX_LOCAL; i++) {
        pthread_mutex_init(&g_local[i].staging_lock, NULL);
        g_local[i].server = i;
    }
}

static int enabled(void)
{
    const char *e = getenv("GPUPOOL_SHARED_MEMORY");
    return e == NULL || strcmp(e, "0") != 0;
}

/* A daemon reached over its Unix socket that has not refused shared memory. */
static int local_server(int server)
{
    gp_conn *conn = gp_server(server);
    if (conn == NULL || server >= MAX_LOCAL || conn->tls || strncmp(conn->url, "unix://", 7) != 0)
        return 0;
    pthread_once(&g_local_once, init_local);
    return !__atomic_load_n(&g_local[server].refused, __ATOMIC_RELAXED);
}

static void say_refused(int server, CUresult rc)
{
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "gpupool: %s refused shared memory (CUresult %d; its log says why): copies go through the socket\n",
                gp_server(server)->url, (int)rc);
}

static region *new_region(size_t bytes, int *fd)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (bytes + page - 1) / page * page;
    if (size == 0)
        size = page;
    *fd = memfd_create("gpupool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (*fd < 0)
        return NULL;
    region *r = calloc(1, sizeof *r);
    void *p = MAP_FAILED;
    if (r == NULL || ftruncate(*fd, (off_t)size) != 0 || fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0 ||
        (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0)) == MAP_FAILED) {
        free(r);
        close(*fd);
        return NULL;
    }
    r->id = __atomic_fetch_add(&g_next_id, 1, __ATOMIC_RELAXED);
    r->base = p;
    r->bytes = size;
    return r;
}

/* The descriptor, then the frame naming it; the daemon maps the region. */
static CUresult pass_region(int server, region *r, int fd)
{
    gp_conn *conn = gp_server(server);
    CUresult rc = CUDA_ERROR_DEVICE_UNAVAILABLE;
    pthread_mutex_lock(&g_pass_lock);
    if (gp_ws_send_fd(conn->ws, fd) == 0) {
        __atomic_store_n(&conn->ring_socket_next, 1, __ATOMIC_SEQ_CST); /* the frame follows its descriptor on the socket */
        gp_call *c = gp_call_begin(GP_OP_SHM_REGION, GP_MODE_SYNC);
        gp_route_server(c, server);
        const gp_frame_shm_region f = { .region = r->id, .bytes = r->bytes };
        GP_PUT_FRAME(c, shm_region, &f);
        rc = gp_call_finish(c);
        gp_call_end(c);
    }
    pthread_mutex_unlock(&g_pass_lock);
    if (rc == CUDA_SUCCESS)
        r->servers |= 1ull << server;
    return rc;
}

static void release_on(int server, uint32_t id)
{
    gp_call *c = gp_call_begin(GP_OP_SHM_RELEASE, GP_MODE_ASYNC);
    gp_route_server(c, server);
    const gp_frame_shm_release f = { .region = id };
    GP_PUT_FRAME(c, shm_release, &f);
    gp_call_finish(c);
    gp_call_end(c);
}

int gp_shm_host_alloc(void **pp, size_t bytes)
{
    if (!enabled())
        return 0;
    int fd, any = 0;
    for (int s = 0; s < gp_server_count(); s++)
        any |= local_server(s);
    region *r = any ? new_region(bytes, &fd) : NULL;
    if (r == NULL)
        return 0;
    for (int s = 0; s < gp_server_count(); s++) {
        if (!local_server(s))
            continue;
        CUresult rc = pass_region(s, r, fd);
        /* Out of the session's shared memory: this block is ordinary memory, later ones may fit. */
        if (rc != CUDA_SUCCESS && rc != CUDA_ERROR_OUT_OF_MEMORY) {
            __atomic_store_n(&g_local[s].refused, 1, __ATOMIC_RELAXED);
            say_refused(s, rc);
        }
    }
    close(fd);
    if (r->servers == 0) {
        munmap(r->base, r->bytes);
        free(r);
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    r->next = g_regions;
    g_regions = r;
    pthread_mutex_unlock(&g_lock);
    *pp = r->base;
    return 1;
}

int gp_shm_host_free(void *p)
{
    pthread_mutex_lock(&g_lock);
    region **at = &g_regions;
    while (*at != NULL && (*at)->base != p)
        at = &(*at)->next;
    region *r = *at;
    if (r != NULL)
        *at = r->next;
    pthread_mutex_unlock(&g_lock);
    if (r == NULL)
        return 0;
    for (int s = 0; s < gp_server_count() && s < MAX_LOCAL; s++) {
        if (r->servers & (1ull << s))
            release_on(s, r->id);
    }
    munmap(r->base, r->bytes);
    free(r);
    return 1;
}

/* The region of server's holding all of [p, p+n), and where p lies in it. */
static int pinned_span(const void *p, size_t n, int server, uint32_t *id, uint64_t *offset)
{
    int found = 0;
    uintptr_t a = (uintptr_t)p;
    pthread_mutex_lock(&g_lock);
    for (region *r = g_regions; r != NULL; r = r->next) {
        uintptr_t base = (uintptr_t)r->base;
        if (a >= base && a - base <= r->bytes && n <= r->bytes - (a - base) && (r->servers & (1ull << server))) {
            *id = r->id;
            *offset = a - base;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

static int per_thread_op(uint32_t op)
{
    return op == GP_OP_cuMemcpyHtoD_v7000_ptsz || op == GP_OP_cuMemcpyHtoDAsync_v7000_ptsz || op == GP_OP_cuMemcpyDtoH_v7000_ptsz ||
           op == GP_OP_cuMemcpyDtoHAsync_v7000_ptsz;
}

typedef struct {
    uint32_t kind, per_thread, async;
    CUstream stream;
    CUdeviceptr device;
} copy_head;

static CUresult copy_frame(const copy_head *h, int mode, uint32_t id, uint64_t offset, size_t n, uint64_t signal, uint32_t value)
{
    gp_call *c = gp_call_begin(GP_OP_SHM_COPY, mode);
    gp_route_dptr(c, (uint64_t)h->device);
    CUresult rc = h->async ? gp_route_handle(c, h->stream) : CUDA_SUCCESS;
    if (rc == CUDA_SUCCESS) {
        const gp_frame_shm_copy f = { .kind = h->kind, .per_thread = h->per_thread, .async = h->async,
                                      .stream = h->async ? gp_handle_id(h->stream) : 0, .device = h->device,
                                      .region = id, .offset = offset, .bytes = n, .signal = signal, .signal_value = value };
        GP_PUT_FRAME(c, shm_copy, &f);
        rc = gp_call_finish(c);
    }
    gp_call_end(c);
    return rc;
}

/* ---- staging ---- */

static uint32_t *slot_word(local_daemon *d, int slot) { return (uint32_t *)(d->staging->base + (size_t)slot * 4); }
static unsigned char *slot_bytes(local_daemon *d, int slot) { return d->staging->base + STAGING_HEAD + (size_t)slot * STAGING_SLOT; }

/* Waits until the daemon is done with the slot: a brief spin, then the futex it wakes. */
static CUresult wait_slot(gp_conn *conn, local_daemon *d, int slot)
{
    uint32_t *word = slot_word(d, slot);
    for (int spin = 0;; spin++) {
        uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (v == d->issued[slot])
            return CUDA_SUCCESS;
        if (__atomic_load_n(&conn->dead, __ATOMIC_RELAXED))
            return CUDA_ERROR_DEVICE_UNAVAILABLE;
        if (spin >= 200) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            syscall(SYS_futex, word, FUTEX_WAIT, v, &ts, NULL, 0);
        }
    }
}

/*
 * A synchronous call's reply comes after the daemon ran every earlier frame: every slot is free
 * (its word may lag when that call was answered without running, a pending error's answer).
 */
static void slots_free(local_daemon *d)
{
    for (int s = 0; s < STAGING_SLOTS; s++)
        __atomic_store_n(slot_word(d, s), d->issued[s], __ATOMIC_RELEASE);
}

/* A staging slot taken for the next frame: its bytes, and what the frame naming it carries. */
typedef struct {
    unsigned char *bytes;
    uint32_t region;
    uint64_t offset;
    uint64_t signal; /* the slot's word, 1-based (0 in a frame: none) */
    uint32_t value;  /* what the daemon sets the word to once it is done with the slot */
} stage_slot;

/* Slot k % STAGING_SLOTS once the daemon is done with it, issued again for the next frame. */
static CUresult take_slot(local_daemon *d, size_t k, stage_slot *st)
{
    int slot = (int)(k % STAGING_SLOTS);
    CUresult rc = wait_slot(gp_server(d->server), d, slot);
    if (rc != CUDA_SUCCESS)
        return rc;
    st->bytes = slot_bytes(d, slot);
    st->region = d->staging->id;
    st->offset = STAGING_HEAD + (uint64_t)slot * STAGING_SLOT;
    st->signal = 1 + (uint64_t)slot * 4;
    st->value = ++d->issued[slot];
    return CUDA_SUCCESS;
}

/* The server's staging region, made and passed at its first use; NULL when the daemon takes none. */
static local_daemon *staging_of(int server)
{
    local_daemon *d = &g_local[server];
    pthread_mutex_lock(&d->staging_lock);
    if (d->staging == NULL && !d->refused) {
        int fd;
        region *r = new_region(STAGING_HEAD + STAGING_SLOTS * STAGING_SLOT, &fd);
        CUresult rc = r != NULL ? pass_region(server, r, fd) : CUDA_ERROR_OUT_OF_MEMORY;
        if (r != NULL)
            close(fd);
        if (rc == CUDA_SUCCESS) {
            d->staging = r;
        } else {
            if (r != NULL) {
                munmap(r->base, r->bytes);
                free(r);
            }
            __atomic_store_n(&d->refused, 1, __ATOMIC_RELAXED);
            say_refused(server, rc);
        }
    }
    if (d->staging == NULL) {
        pthread_mutex_unlock(&d->staging_lock);
        return NULL;
    }
    return d; /* locked */
}

static CUresult staged_htod(int server, local_daemon *d, const copy_head *h, const unsigned char *src, size_t n)
{
    gp_conn *conn = gp_server(server);
    copy_head slice = *h;
    size_t done = 0;
    for (size_t k = 0; done < n; k++) {
        stage_slot st;
        CUresult rc = take_slot(d, k, &st);
        if (rc != CUDA_SUCCESS)
            return rc;
        size_t len = n - done < STAGING_SLOT ? n - done : STAGING_SLOT;
        memcpy(st.bytes, src + done, len);
        int last = done + len == n;
        /* A synchronous copy answers with its last slice, after all the others ran. */
        int mode = last && !h->async ? GP_MODE_SYNC : GP_MODE_ASYNC;
        slice.device = h->device + done;
        rc = copy_frame(&slice, mode, st.region, st.offset, len, st.signal, st.value);
        if (mode == GP_MODE_SYNC) {
            slots_free(d);
            return rc;
        }
        if (rc != CUDA_SUCCESS)
            return rc;
        gp_conn_flush(conn);
        done += len;
    }
    return CUDA_SUCCESS;
}

/* Slices go ahead into every slot; each is taken out once its word says the daemon wrote it. */
static CUresult staged_dtoh(int server, local_daemon *d, const copy_head *h, unsigned char *dst, size_t n)
{
    gp_conn *conn = gp_server(server);
    size_t slices = (n + STAGING_SLOT - 1) / STAGING_SLOT;
    size_t sent = 0, taken = 0;
    CUresult result = CUDA_SUCCESS;
    copy_head slice = *h;
    while (taken < slices) {
        while (sent < slices && sent - taken < STAGING_SLOTS) {
            stage_slot st;
            CUresult rc = take_slot(d, sent, &st);
            if (rc != CUDA_SUCCESS)
                return rc;
            size_t off = sent * STAGING_SLOT, len = n - off < STAGING_SLOT ? n - off : STAGING_SLOT;
            int last = sent + 1 == slices;
            int mode = last && !h->async ? GP_MODE_SYNC : GP_MODE_ASYNC;
            slice.device = h->device + off;
            rc = copy_frame(&slice, mode, st.region, st.offset, len, st.signal, st.value);
            sent++;
            if (mode == GP_MODE_SYNC) {
                slots_free(d);
                result = rc;
            } else if (rc != CUDA_SUCCESS) {
                return rc;
            } else {
                gp_conn_flush(conn);
            }
        }
        int slot = (int)(taken % STAGING_SLOTS);
        CUresult rc = wait_slot(conn, d, slot);
        if (rc != CUDA_SUCCESS)
            return rc;
        size_t off = taken * STAGING_SLOT, len = n - off < STAGING_SLOT ? n - off : STAGING_SLOT;
        if (result == CUDA_SUCCESS)
            memcpy(dst + off, slot_bytes(d, slot), len);
        taken++;
    }
    return result;
}

/*
 * The daemon the copy's frame goes to (gp_route_handle: a stream's daemon before the memory's, which
 * may be ambiguous: stream-ordered allocations of two daemons share addresses), if it is local; or -1.
 */
static int local_for(CUdeviceptr device, size_t n, int async, CUstream stream)
{
    if (n == 0 || !enabled())
        return -1;
    int server = async && gp_handle_server(stream) >= 0 ? gp_handle_server(stream) : gp_alloc_server(device, n);
    return server >= 0 && local_server(server) ? server : -1;
}

/* A copy between device memory and host memory: kind 0 to the card, 1 to the host. */
static int shared_copy(uint32_t kind, uint32_t op, CUdeviceptr device, unsigned char *host, size_t n, int async, CUstream stream, CUresult *rc)
{
    int server = local_for(device, n, async, stream);
    if (server < 0 || host == NULL)
        return 0;
    copy_head h = { .kind = kind, .per_thread = (uint32_t)per_thread_op(op), .async = (uint32_t)(async != 0), .stream = stream, .device = device };
    uint32_t id;
    uint64_t offset;
    if (pinned_span(host, n, server, &id, &offset)) {
        *rc = copy_frame(&h, async ? GP_MODE_ASYNC : GP_MODE_SYNC, id, offset, n, 0, 0);
        return 1;
    }
    local_daemon *d = staging_of(server);
    if (d == NULL)
        return 0;
    *rc = kind == 0 ? staged_htod(server, d, &h, host, n) : staged_dtoh(server, d, &h, host, n);
    pthread_mutex_unlock(&d->staging_lock);
    return 1;
}

int gp_shm_htod(uint32_t op, CUdeviceptr dst, const void *src, size_t n, int async, CUstream stream, CUresult *rc)
{
    /* The source is only read: staged_htod and the daemon's host-to-device copy take it as const. */
    return shared_copy(0, op, dst, (unsigned char *)(uintptr_t)src, n, async, stream, rc);
}

int gp_shm_dtoh(uint32_t op, void *dst, CUdeviceptr src, size_t n, int async, CUstream stream, CUresult *rc)
{
    return shared_copy(1, op, src, dst, n, async, stream, rc);
}

/* ---- for copy3d.c (shm.h) ---- */

int gp_shm_local(int server) { return server >= 0 && enabled() && local_server(server); }

int gp_shm_pinned(int server, const void *p, size_t n, uint32_t *region, uint64_t *offset)
{
    return gp_shm_local(server) && pinned_span(p, n, server, region, offset);
}

gp_shm_stage *gp_shm_stage_begin(int server) { return gp_shm_local(server) ? staging_of(server) : NULL; }

unsigned char *gp_shm_stage_slot(gp_shm_stage *d, size_t k, uint32_t *region, uint64_t *offset, uint64_t *signal, uint32_t *value,
                                 CUresult *rc)
{
    stage_slot st;
    *rc = take_slot(d, k, &st);
    if (*rc != CUDA_SUCCESS)
        return NULL;
    *region = st.region;
    *offset = st.offset;
    *signal = st.signal;
    *value = st.value;
    return st.bytes;
}

void gp_shm_stage_synced(gp_shm_stage *d) { slots_free(d); }

void gp_shm_stage_end(gp_shm_stage *d) { pthread_mutex_unlock(&d->staging_lock); }
