#define _GNU_SOURCE
#include "client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "call.h"
#include "decode.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "shim.h"

#define MAX_SERVERS 64
#define MAX_DEVICES 256
#define CTX_STACK 16

static gp_conn g_servers[MAX_SERVERS];
static int g_server_count;
static gp_device g_devices[MAX_DEVICES];
static int g_device_count;
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static CUresult g_init_result = CUDA_ERROR_NOT_INITIALIZED;
static int g_initialized;

int gp_server_count(void) { return g_server_count; }
gp_conn *gp_server(int index) { return index >= 0 && index < g_server_count ? &g_servers[index] : NULL; }
int gp_initialized(void) { return __atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE); }

/* ---- handles ----------------------------------------------------------------------------------- */

void *gp_tag_handle(int server, uint64_t id)
{
    if (id == 0 || server < 0)
        return NULL;
    return (void *)(uintptr_t)(((uint64_t)(server + 1) << GP_HANDLE_SHIFT) | (id & GP_HANDLE_ID_MASK));
}

int gp_handle_server(const void *handle)
{
    uint64_t v = (uint64_t)(uintptr_t)handle;
    if (v <= 2) /* NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD */
        return -1;
    int server = (int)(v >> GP_HANDLE_SHIFT) - 1;
    return server >= 0 ? server : -2;
}

uint64_t gp_handle_id(const void *handle)
{
    uint64_t v = (uint64_t)(uintptr_t)handle;
    return v <= 2 ? v : v & GP_HANDLE_ID_MASK;
}

/* ---- the handshake's device list ------------------------------------------------------------- */

static void take_welcome(gp_conn *conn, const uint8_t *msg, size_t len, void *user)
{
    (void)user;
    /* A WELCOME that does not decode leaves no devices: cuInit then reports that there are none. */
    (void)gp_decode_welcome(msg, len, conn->index, &conn->session, g_devices, MAX_DEVICES, &g_device_count);
}

int gp_device_global(int server, int remote)
{
    for (int i = 0; i < g_device_count; i++)
        if (g_devices[i].server == server && g_devices[i].remote_ordinal == remote)
            return i;
    return -1;
}

/*
 * With GPUPOOL_SERVERS unset: the daemon of this host through its Unix socket when one is there
 * (GPUPOOL_LOCAL_SOCKET alone when set, else /run/gpupool/gpupool.sock, then
 * $XDG_RUNTIME_DIR/gpupool/gpupool.sock: the daemon's own order, src/server/local-socket.ts), else
 * its TCP address.
 */
static const char *default_server(char *buf, size_t cap)
{
    const char *named = getenv("GPUPOOL_LOCAL_SOCKET");
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    char user[160] = "";
    if (runtime != NULL && *runtime != '\0')
        snprintf(user, sizeof user, "%s/gpupool/gpupool.sock", runtime);
    const char *candidates[2] = { "/run/gpupool/gpupool.sock", user };
    if (named != NULL && strcmp(named, "none") == 0)
        return "ws://127.0.0.1:7760";
    if (named != NULL && *named != '\0') {
        candidates[0] = named;
        candidates[1] = "";
    }
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (candidates[i][0] == '/' && stat(candidates[i], &st) == 0 && S_ISSOCK(st.st_mode)) {
            snprintf(buf, cap, "unix://%s", candidates[i]);
            return buf;
        }
    }
    return "ws://127.0.0.1:7760";
}

static void connect_all(void)
{
    const char *list = getenv("GPUPOOL_SERVERS");
    const char *token = getenv("GPUPOOL_TOKEN");
    /* What the job asks for (docs/operations.md, "Memory quotas"): a bad request fails cuInit, never
     * silently turns into the daemon's default. */
    const char *request_text = getenv("GPUPOOL_REQUEST");
    gp_request request;
    memset(&request, 0, sizeof request);
    if (request_text != NULL && *request_text != '\0') {
        char why[768] = "";
        if (gp_request_parse(request_text, &request, why, sizeof why) != 0) {
            gp_error("%s", why);
            g_init_result = CUDA_ERROR_INVALID_VALUE;
            gp_devices_set(g_devices, 0);
            return;
        }
    }
    char local[256];
    char *copy = strdup(list && *list ? list : default_server(local, sizeof local));
    char *save = NULL;
    g_init_result = CUDA_SUCCESS;
    for (char *url = strtok_r(copy, ", ", &save); url != NULL; url = strtok_r(NULL, ", ", &save)) {
        char why[3072] = ""; /* a refusal's whole reason (docs/protocol.md, "Handshake") */
        if (g_server_count >= MAX_SERVERS)
            break;
        /* ws://HOST:PORT?gpus=2&wait=60: this server's own request, over GPUPOOL_REQUEST's. */
        gp_request mine = request;
        char *query = strchr(url, '?');
        if (query != NULL) {
            char what[320];
            snprintf(what, sizeof what, "GPUPOOL_SERVERS: %s", url);
            *query = '\0';
            if (gp_request_apply(what, query + 1, "&", &mine, why, sizeof why) != 0) {
                gp_error("%s", why);
                g_init_result = CUDA_ERROR_INVALID_VALUE;
                break;
            }
        }
        if (gp_conn_open(&g_servers[g_server_count], url, g_server_count, token, &mine, why, sizeof why, take_welcome, NULL) != 0) {
            gp_error("%s", why);
            g_init_result = CUDA_ERROR_NO_DEVICE;
            break;
        }
        g_server_count++;
    }
    free(copy);
    if (g_init_result == CUDA_SUCCESS && g_device_count == 0) {
        gp_error("the daemons in GPUPOOL_SERVERS offer no devices");
        g_init_result = CUDA_ERROR_NO_DEVICE;
    }
    gp_devices_set(g_devices, g_device_count);
    if (g_init_result == CUDA_SUCCESS)
        __atomic_store_n(&g_initialized, 1, __ATOMIC_RELEASE);
    gp_debug("connected to %d daemon(s), %d device(s)", g_server_count, g_device_count);
}

/*
 * At exit every connection sends what the job queued and closes normally: fire-and-forget work is not
 * lost because the job did not synchronise, and the daemon sees a clean end (1000), not a dropped link.
 */
__attribute__((destructor)) static void close_all(void)
{
    for (int i = 0; i < g_server_count; i++)
        gp_conn_close(&g_servers[i]);
}

CUresult gp_local_cuInit_v2000(unsigned int flags)
{
    if (flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_once(&g_init_once, connect_all);
    return g_init_result;
}

/* ---- contexts: the current one is per thread, and stays on this side ------------------------- */

typedef struct {
    CUcontext ctx;
    int device;
} ctx_record;

static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static ctx_record *g_ctxs;
static size_t g_ctx_count, g_ctx_cap;
static __thread CUcontext tls_stack[CTX_STACK];
static __thread int tls_top = -1;

CUcontext gp_tls_context(void) { return tls_top >= 0 ? tls_stack[tls_top] : NULL; }
CUcontext gp_current_context(void) { return gp_tls_context(); }
int gp_context_server(CUcontext ctx) { return gp_handle_server(ctx) >= 0 ? gp_handle_server(ctx) : -1; }

int gp_context_device(CUcontext ctx)
{
    int dev = -1;
    pthread_mutex_lock(&g_ctx_lock);
    for (size_t i = 0; i < g_ctx_count; i++)
        if (g_ctxs[i].ctx == ctx)
            dev = g_ctxs[i].device;
    pthread_mutex_unlock(&g_ctx_lock);
    return dev;
}

void gp_note_context(gp_call *c, CUcontext ctx, CUdevice dev)
{
    (void)c;
    if (gp_context_device(ctx) >= 0)
        return;
    pthread_mutex_lock(&g_ctx_lock);
    if (g_ctx_count == g_ctx_cap) {
        size_t cap = g_ctx_cap ? g_ctx_cap * 2 : 16;
        ctx_record *p = realloc(g_ctxs, cap * sizeof *p);
        if (p == NULL) {
            pthread_mutex_unlock(&g_ctx_lock);
            return;
        }
        g_ctxs = p;
        g_ctx_cap = cap;
    }
    g_ctxs[g_ctx_count++] = (ctx_record){ ctx, dev };
    pthread_mutex_unlock(&g_ctx_lock);
}

void gp_forget_context(CUcontext ctx)
{
    pthread_mutex_lock(&g_ctx_lock);
    for (size_t i = 0; i < g_ctx_count; i++) {
        if (g_ctxs[i].ctx == ctx) {
            g_ctxs[i] = g_ctxs[--g_ctx_count];
            break;
        }
    }
    pthread_mutex_unlock(&g_ctx_lock);
    for (int i = 0; i <= tls_top; i++)
        if (tls_stack[i] == ctx)
            tls_stack[i] = NULL;
    gp_context_storage_release(ctx);
}

void gp_set_current(CUcontext ctx)
{
    if (tls_top < 0)
        tls_top = 0;
    tls_stack[tls_top] = ctx;
}

CUresult gp_local_cuCtxSetCurrent_v4000(CUcontext ctx)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx != NULL && gp_context_device(ctx) < 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (ctx == NULL && tls_top <= 0) {
        tls_top = -1;
        return CUDA_SUCCESS;
    }
    gp_set_current(ctx);
    return CUDA_SUCCESS;
}

CUresult gp_local_cuCtxGetCurrent_v4000(CUcontext *pctx)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = gp_tls_context();
    return CUDA_SUCCESS;
}

CUresult gp_local_cuCtxPushCurrent_v4000(CUcontext ctx)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx == NULL || gp_context_device(ctx) < 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (tls_top + 1 >= CTX_STACK)
        return CUDA_ERROR_OUT_OF_MEMORY;
    tls_stack[++tls_top] = ctx;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuCtxPopCurrent_v4000(CUcontext *pctx)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (tls_top < 0 || tls_stack[tls_top] == NULL)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (pctx)
        *pctx = tls_stack[tls_top];
    tls_top--;
    return CUDA_SUCCESS;
}

static CUresult ctx_device(CUdevice *device, CUcontext ctx)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (device == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    int dev = ctx ? gp_context_device(ctx) : -1;
    if (dev < 0)
        return CUDA_ERROR_INVALID_CONTEXT;
    *device = dev;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuCtxGetDevice_v2000(CUdevice *device) { return ctx_device(device, gp_tls_context()); }

CUresult gp_local_cuCtxGetDevice_v13000(CUdevice *device, CUcontext ctx)
{
    return ctx_device(device, ctx ? ctx : gp_tls_context());
}

/*
 * CUDA 13's cuCtxCreate. What only this variant carries (execution affinity, a CIG context sharing a
 * graphics client's) gpupool does not offer, and says so as the driver does for a card without it;
 * anything else is the v2 call.
 */
CUresult gp_local_cuCtxCreate_v12050(CUcontext *pctx, CUctxCreateParams *ctxCreateParams, unsigned int flags, CUdevice dev)
{
    if (ctxCreateParams != NULL && ctxCreateParams->numExecAffinityParams > 0)
        return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
    if (ctxCreateParams != NULL && ctxCreateParams->cigParams != NULL)
        return CUDA_ERROR_NOT_SUPPORTED;
    return gp_fwd_cuCtxCreate_v3020(pctx, flags, dev);
}

/* The handle only: nothing is retained, no daemon is asked (see GP_PRIMARY_CONTEXT_ID). */
CUresult gp_primary_context(CUcontext *pctx, CUdevice dev)
{
    const gp_device *d = gp_device_get(dev);
    if (d == NULL)
        return CUDA_ERROR_INVALID_DEVICE;
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = gp_tag_handle(d->server, GP_PRIMARY_CONTEXT_ID(d->remote_ordinal));
    gp_note_context(NULL, *pctx, dev);
    return CUDA_SUCCESS;
}

CUresult gp_local_cuModuleGetLoadingMode_v11070(CUmoduleLoadingMode *mode)
{
    if (mode == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    /* Lazy: cudart loads a module at its first launch, so a job pays only for the kernels it runs. */
    *mode = CU_MODULE_LAZY_LOADING;
    return CUDA_SUCCESS;
}

/* ---- allocations: which daemon holds which device memory -------------------------------------- */

typedef struct {
    CUdeviceptr base;
    size_t size;
    int server;
    CUcontext ctx; /* where it was allocated: a copy from another thread's context runs there */
} alloc_record;

static pthread_rwlock_t g_alloc_lock = PTHREAD_RWLOCK_INITIALIZER;
static alloc_record *g_allocs; /* sorted by base */
static size_t g_alloc_count, g_alloc_cap;

static size_t alloc_lower_bound(CUdeviceptr ptr)
{
    size_t lo = 0, hi = g_alloc_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_allocs[mid].base <= ptr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* first record with base > ptr */
}

void gp_note_alloc(gp_call *c, CUdeviceptr ptr, size_t bytes)
{
    pthread_rwlock_wrlock(&g_alloc_lock);
    if (g_alloc_count == g_alloc_cap) {
        size_t cap = g_alloc_cap ? g_alloc_cap * 2 : 64;
        alloc_record *p = realloc(g_allocs, cap * sizeof *p);
        if (p == NULL) {
            pthread_rwlock_unlock(&g_alloc_lock);
            return;
        }
        g_allocs = p;
        g_alloc_cap = cap;
    }
    size_t at = alloc_lower_bound(ptr);
    memmove(&g_allocs[at + 1], &g_allocs[at], (g_alloc_count - at) * sizeof *g_allocs);
    g_allocs[at] = (alloc_record){ ptr, bytes ? bytes : 1, gp_call_server(c), gp_tls_context() };
    g_alloc_count++;
    pthread_rwlock_unlock(&g_alloc_lock);
}

/*
 * Two daemons may hand out the same device addresses (each daemon's address space is its own: two
 * daemons on one host over the same cards, or two emulators, do), so several records may hold an
 * address: device identity is (daemon, card), never an address or a UUID alone. The record chosen is
 * the one in the context the caller prefers (a peer copy names both contexts), else on the daemon the
 * caller prefers (a call's stream's), else in the calling thread's current context, else on the
 * current context's daemon, else the nearest.
 */
static __thread CUcontext tls_prefer_ctx;
static __thread int tls_prefer_server = -1;

CUcontext gp_prefer_context(CUcontext ctx)
{
    CUcontext previous = tls_prefer_ctx;
    tls_prefer_ctx = ctx;
    return previous;
}

int gp_prefer_server(int server)
{
    int previous = tls_prefer_server;
    tls_prefer_server = server;
    return previous;
}

/* Records overlapping one address are neighbours in base order; a few are looked at. */
#define OVERLAP_SCAN 16

static const alloc_record *find_record(CUdeviceptr ptr, size_t bytes, int base_only)
{
    CUcontext prefer = tls_prefer_ctx ? tls_prefer_ctx : gp_tls_context();
    int prefer_server = prefer ? gp_context_server(prefer) : -1;
    /* A stream's daemon outranks the current context's: the current context may be another daemon's. */
    if (tls_prefer_ctx == NULL && tls_prefer_server >= 0 && prefer_server != tls_prefer_server) {
        prefer = NULL;
        prefer_server = tls_prefer_server;
    }
    const alloc_record *best = NULL;
    int best_score = -1;
    size_t at = alloc_lower_bound(ptr);
    for (size_t i = at, scanned = 0; i > 0 && scanned < OVERLAP_SCAN; i--, scanned++) {
        const alloc_record *r = &g_allocs[i - 1];
        int holds = base_only ? r->base == ptr : ptr >= r->base && ptr - r->base < r->size && bytes <= r->size - (ptr - r->base);
        if (!holds)
            continue;
        /* A context the caller named (a peer copy's) is strict: another daemon's memory is not it. */
        if (tls_prefer_ctx != NULL && r->server != prefer_server)
            continue;
        int score = prefer != NULL && r->ctx == prefer ? 2 : prefer_server >= 0 && r->server == prefer_server ? 1 : 0;
        if (score > best_score) {
            best = r;
            best_score = score;
        }
    }
    return best;
}

CUdeviceptr gp_alloc_overlap_end(CUdeviceptr ptr, size_t bytes, int server)
{
    CUdeviceptr end = ptr + (bytes ? bytes : 1);
    int found = 0;
    pthread_rwlock_rdlock(&g_alloc_lock);
    /* Back from the first record at or past ptr to those that start before it, then forward while
     * records start inside (or right at the end of) what has been found so far. */
    size_t i = alloc_lower_bound(ptr);
    for (size_t scanned = 0; i > 0 && scanned < OVERLAP_SCAN; scanned++)
        i--;
    for (; i < g_alloc_count && g_allocs[i].base <= end; i++) {
        const alloc_record *r = &g_allocs[i];
        if (r->server == server || r->base + r->size <= ptr || (r->base == end && !found))
            continue;
        found = 1;
        if (r->base + r->size > end)
            end = r->base + r->size;
    }
    pthread_rwlock_unlock(&g_alloc_lock);
    return found ? end : 0;
}

int gp_alloc_holders(CUdeviceptr ptr, size_t bytes, int *server, CUcontext *ctx)
{
    int holders = 0, first = -1;
    pthread_rwlock_rdlock(&g_alloc_lock);
    size_t at = alloc_lower_bound(ptr);
    for (size_t i = at, scanned = 0; i > 0 && scanned < OVERLAP_SCAN; i--, scanned++) {
        const alloc_record *r = &g_allocs[i - 1];
        if (ptr - r->base >= r->size || (bytes ? bytes : 1) > r->size - (ptr - r->base) || r->server == first)
            continue;
        if (holders++ == 0) {
            first = r->server;
            *server = r->server;
            *ctx = r->ctx;
        }
    }
    pthread_rwlock_unlock(&g_alloc_lock);
    return holders;
}

CUcontext gp_preferred_context(void) { return tls_prefer_ctx; }

void gp_forget_alloc(CUdeviceptr ptr)
{
    pthread_rwlock_wrlock(&g_alloc_lock);
    const alloc_record *r = find_record(ptr, 1, 1);
    if (r != NULL) {
        size_t at = (size_t)(r - g_allocs);
        memmove(&g_allocs[at], &g_allocs[at + 1], (g_alloc_count - at - 1) * sizeof *g_allocs);
        g_alloc_count--;
    }
    pthread_rwlock_unlock(&g_alloc_lock);
}

int gp_alloc_lookup(CUdeviceptr ptr, size_t bytes, CUcontext *ctx)
{
    int server = -1;
    pthread_rwlock_rdlock(&g_alloc_lock);
    const alloc_record *r = find_record(ptr, bytes, 0);
    if (r != NULL) {
        server = r->server;
        if (ctx)
            *ctx = r->ctx;
    }
    pthread_rwlock_unlock(&g_alloc_lock);
    return server;
}

int gp_alloc_range(CUdeviceptr ptr, CUdeviceptr *base, size_t *size, CUcontext *ctx)
{
    int server = -1;
    pthread_rwlock_rdlock(&g_alloc_lock);
    const alloc_record *r = find_record(ptr, 1, 0);
    if (r != NULL) {
        server = r->server;
        *base = r->base;
        *size = r->size;
        *ctx = r->ctx;
    }
    pthread_rwlock_unlock(&g_alloc_lock);
    return server;
}

int gp_alloc_server(CUdeviceptr ptr, size_t bytes)
{
    return gp_alloc_lookup(ptr, bytes, NULL);
}

void gp_server_holdings(int server, size_t *contexts, size_t *allocations, uint64_t *bytes)
{
    *contexts = *allocations = 0;
    *bytes = 0;
    pthread_mutex_lock(&g_ctx_lock);
    for (size_t i = 0; i < g_ctx_count; i++)
        if (gp_context_server(g_ctxs[i].ctx) == server)
            (*contexts)++;
    pthread_mutex_unlock(&g_ctx_lock);
    pthread_rwlock_rdlock(&g_alloc_lock);
    for (size_t i = 0; i < g_alloc_count; i++) {
        if (g_allocs[i].server == server) {
            (*allocations)++;
            *bytes += g_allocs[i].size;
        }
    }
    pthread_rwlock_unlock(&g_alloc_lock);
}

CUresult gp_local_cuGetExportTable_v3000(const void **ppExportTable, const CUuuid *pExportTableId)
{
    return gp_get_export_table(ppExportTable, pExportTableId);
}

/*
 * Not a CUDA symbol: the device memory this process holds on client device dev (its allocations'
 * bytes, as recorded), for the client-side NVML (native/nvml), whose "used" memory is the job's own.
 */
GP_EXPORT int gpupoolDeviceMemoryHeld(int dev, unsigned long long *bytes)
{
    if (bytes == NULL || gp_device_get(dev) == NULL)
        return -1;
    unsigned long long sum = 0;
    pthread_rwlock_rdlock(&g_alloc_lock);
    for (size_t i = 0; i < g_alloc_count; i++)
        if (gp_context_device(g_allocs[i].ctx) == dev)
            sum += g_allocs[i].size;
    pthread_rwlock_unlock(&g_alloc_lock);
    *bytes = sum;
    return 0;
}
