/*
 * Calls whose arguments need work on the client before they travel (docs/protocol.md, "Hand-encoded
 * calls"): module images (their size is in their header, not an argument), kernel launches (the
 * parameters are packed by the kernel's layout) and copies between daemons.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "custom.h"
#include "gp_frames.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "memcpy2d_as_3d.h"
#include "shim.h"
#include "shm.h"

/* ---- module images ------------------------------------------------------------------------------ */

#define FATBIN_WRAPPER_MAGIC 0x466243b1u
#define FATBIN_MAGIC 0xBA55ED50u

/* The bytes of a fatbin, cubin or PTX image, found from its own header (no size is ever passed). */
size_t gp_image_size(const void **image)
{
    const unsigned char *p = *image;
    uint32_t magic;
    memcpy(&magic, p, 4);
    if (magic == FATBIN_WRAPPER_MAGIC) {
        const void *data;
        memcpy(&data, p + 8, sizeof data);
        *image = data;
        p = data;
        memcpy(&magic, p, 4);
    }
    if (magic == FATBIN_MAGIC) {
        uint16_t header;
        uint64_t payload;
        memcpy(&header, p + 6, 2);
        memcpy(&payload, p + 8, 8);
        return header + payload;
    }
    if (memcmp(p, "\177ELF", 4) == 0 && p[4] == 2) { /* ELF64: the section headers end it */
        uint64_t shoff, phoff;
        uint16_t phentsize, phnum, shentsize, shnum;
        memcpy(&phoff, p + 32, 8);
        memcpy(&shoff, p + 40, 8);
        memcpy(&phentsize, p + 54, 2);
        memcpy(&phnum, p + 56, 2);
        memcpy(&shentsize, p + 58, 2);
        memcpy(&shnum, p + 60, 2);
        size_t end = shoff + (size_t)shnum * shentsize;
        size_t pend = phoff + (size_t)phnum * phentsize;
        for (uint16_t i = 0; i < shnum; i++) {
            const unsigned char *sh = p + shoff + (size_t)i * shentsize;
            uint32_t type;
            uint64_t off, size;
            memcpy(&type, sh + 4, 4);
            memcpy(&off, sh + 24, 8);
            memcpy(&size, sh + 32, 8);
            if (type != 8 /* SHT_NOBITS */ && off + size > end)
                end = off + size;
        }
        return end > pend ? end : pend;
    }
    return strlen((const char *)p) + 1; /* PTX text */
}

CUresult gp_load_image_on(uint32_t op, int server, void **out, const void *image, size_t size)
{
    gp_call *c = gp_call_begin(op, GP_MODE_SYNC);
    if (server >= 0)
        gp_route_server(c, server);
    const gp_frame_image frame = { .image = image, .image_len = (uint32_t)size };
    GP_PUT_FRAME(c, image, &frame);
    CUresult rc = gp_call_finish(c);
    if (rc == CUDA_SUCCESS)
        *out = gp_get_handle(c);
    gp_call_end(c);
    return rc;
}

/* Modules belong to the current context, so they load on its daemon. */
static CUresult load_image(uint32_t op, void **out, const void *image)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (out == NULL || image == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    size_t size = gp_image_size(&image);
    return gp_load_image_on(op, -1, out, image, size);
}

CUresult gp_fwd_cuModuleLoadData_v2000(CUmodule *module, const void *image)
{
    return load_image(GP_OP_cuModuleLoadData_v2000, (void **)module, image);
}

CUresult gp_fwd_cuModuleLoadDataEx_v2010(CUmodule *module, const void *image, unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    (void)numOptions, (void)options, (void)optionValues;
    return load_image(GP_OP_cuModuleLoadDataEx_v2010, (void **)module, image);
}

CUresult gp_fwd_cuModuleLoadFatBinary_v2000(CUmodule *module, const void *fatCubin)
{
    return load_image(GP_OP_cuModuleLoadFatBinary_v2000, (void **)module, fatCubin);
}

/* ---- kernel launches ------------------------------------------------------------------------------ */

typedef struct {
    const void *fn;
    unsigned count;
    size_t *offset, *size;
    size_t total;
} param_layout;

static pthread_mutex_t g_layout_lock = PTHREAD_MUTEX_INITIALIZER;
static param_layout *g_layouts;
static size_t g_layout_count, g_layout_cap;

/* The layout this thread launched last: a loop launching one kernel takes no lock for it. A layout,
 * once recorded, never changes, so the copy stays true. */
static __thread param_layout tls_last_layout;

static int find_layout(const void *fn, param_layout *out)
{
    if (fn != NULL && tls_last_layout.fn == fn) {
        *out = tls_last_layout;
        return 1;
    }
    int found = 0;
    pthread_mutex_lock(&g_layout_lock);
    for (size_t i = 0; i < g_layout_count && !found; i++)
        if (g_layouts[i].fn == fn) {
            *out = g_layouts[i];
            found = 1;
        }
    pthread_mutex_unlock(&g_layout_lock);
    if (found)
        tls_last_layout = *out;
    return found;
}

/* Asks the daemon for each parameter's offset and size, as a kernel or else as a function handle. */
static CUresult query_layout(const void *fn, param_layout *out)
{
    size_t offsets[256], sizes[256];
    unsigned n = 0;
    int as_kernel = 1;
    for (;;) {
        size_t off = 0, size = 0;
        CUresult rc = as_kernel ? gp_fwd_cuKernelGetParamInfo_v12040((CUkernel)fn, n, &off, &size)
                                : gp_fwd_cuFuncGetParamInfo_v12040((CUfunction)fn, n, &off, &size);
        if (rc == CUDA_ERROR_INVALID_HANDLE && as_kernel && n == 0) {
            as_kernel = 0;
            continue;
        }
        if (rc == CUDA_ERROR_INVALID_VALUE || n == 256)
            break; /* past the last parameter */
        if (rc != CUDA_SUCCESS)
            return rc;
        offsets[n] = off;
        sizes[n] = size;
        n++;
    }
    out->fn = fn;
    out->count = n;
    out->offset = malloc((n ? n : 1) * sizeof(size_t));
    out->size = malloc((n ? n : 1) * sizeof(size_t));
    if (out->offset == NULL || out->size == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    out->total = 0;
    for (unsigned i = 0; i < n; i++) {
        out->offset[i] = offsets[i];
        out->size[i] = sizes[i];
        if (offsets[i] + sizes[i] > out->total)
            out->total = offsets[i] + sizes[i];
    }
    pthread_mutex_lock(&g_layout_lock);
    if (g_layout_count == g_layout_cap) {
        size_t cap = g_layout_cap ? g_layout_cap * 2 : 32;
        param_layout *p = realloc(g_layouts, cap * sizeof *p);
        if (p != NULL) {
            g_layouts = p;
            g_layout_cap = cap;
        }
    }
    if (g_layout_count < g_layout_cap)
        g_layouts[g_layout_count++] = *out;
    pthread_mutex_unlock(&g_layout_lock);
    return CUDA_SUCCESS;
}

/* The parameter buffer as the CUDA ABI lays it out, from kernelParams or from `extra`. */
static CUresult pack_params(const void *fn, void **kernelParams, void **extra, unsigned char **buf, size_t *len, unsigned char *local, size_t local_cap)
{
    if (extra != NULL) {
        void *data = NULL;
        size_t size = 0;
        for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                data = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
                size = *(size_t *)extra[i + 1];
            else
                return CUDA_ERROR_INVALID_VALUE;
        }
        *buf = data;
        *len = data ? size : 0;
        return CUDA_SUCCESS;
    }
    param_layout layout;
    if (!find_layout(fn, &layout)) {
        CUresult rc = query_layout(fn, &layout);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    if (layout.count > 0 && kernelParams == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned char *out = layout.total <= local_cap ? local : calloc(1, layout.total);
    if (out == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memset(out, 0, layout.total);
    for (unsigned i = 0; i < layout.count; i++)
        memcpy(out + layout.offset[i], kernelParams[i], layout.size[i]);
    *buf = out;
    *len = layout.total;
    return CUDA_SUCCESS;
}

/* A launch's parameter buffer as pack_params makes it, in memory of the caller's (graph.c keeps it in a node). */
CUresult gp_pack_launch_params(CUfunction f, void **kernelParams, void **extra, unsigned char **buf, size_t *len)
{
    int server = gp_context_server(gp_tls_context());
    const void *real = f;
    CUresult rc = gp_kernel_for_server(f, server >= 0 ? server : 0, &real);
    if (rc != CUDA_SUCCESS)
        return rc;
    unsigned char local[4096], *params = NULL;
    size_t n = 0;
    if ((rc = pack_params(real, kernelParams, extra, &params, &n, local, sizeof local)) != CUDA_SUCCESS)
        return rc;
    *buf = malloc(n ? n : 1);
    if (*buf != NULL && n > 0)
        memcpy(*buf, params, n);
    if (params != local && extra == NULL)
        free(params);
    *len = n;
    return *buf == NULL ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

/* The fields launch and launch_ex share (src/protocol/frames.ts). */
#define LAUNCH_FIELDS(frame, f, grid, block, shared, stream, params, len) \
    do {                                                                    \
        (frame).fn = gp_handle_id(f);                                       \
        memcpy((frame).grid, (grid), sizeof (frame).grid);                  \
        memcpy((frame).block, (block), sizeof (frame).block);               \
        (frame).shared = (shared);                                          \
        (frame).stream = gp_handle_id(stream);                              \
        (frame).params = (params);                                          \
        (frame).params_len = (uint32_t)(len);                               \
    } while (0)

void gp_attrs_to_frame(const CUlaunchAttribute *attrs, unsigned n, gp_frame_pair *pairs, uint32_t *count)
{
    *count = n;
    for (unsigned i = 0; i < n; i++) {
        pairs[i].id = (uint32_t)attrs[i].id;
        pairs[i].value = &attrs[i].value;
    }
}

/* How a launch travels: as launch_ex (with its attributes), and waiting for the daemon's answer. */
enum { LAUNCH_WITH_ATTRS = 1, LAUNCH_SYNC = 2 };

static CUresult launch(uint32_t op, CUfunction f, const unsigned grid[3], const unsigned block[3], unsigned shared, CUstream stream,
                       void **kernelParams, void **extra, const CUlaunchAttribute *attrs, unsigned num_attrs, int how)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (f == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    /* The capture's node is built only while some stream captures: it is a large struct to clear. */
    if (gp_capturing()) {
        int taken = 0;
        /* A cooperative launch counts as an attribute: a capture made in the job has no way to say it. */
        gp_capture_op node = { .call = (how & LAUNCH_SYNC) ? "cuLaunchCooperativeKernel" : "cuLaunchKernel",
                               .type = CU_GRAPH_NODE_TYPE_KERNEL,
                               .attrs = (how & LAUNCH_WITH_ATTRS) ? num_attrs : (how & LAUNCH_SYNC) ? 1 : 0,
                               .kernel = { f, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, kernelParams, extra, NULL, NULL } };
        CUresult taken_rc = gp_capture_take(stream, &node, &taken);
        if (taken_rc != CUDA_SUCCESS || taken)
            return taken_rc;
    }
    /* A library kernel runs where its stream (else the current context) lives. */
    int server = gp_handle_server(stream) >= 0 ? gp_handle_server(stream) : gp_context_server(gp_tls_context());
    const void *real = f;
    CUresult rc = gp_kernel_for_server(f, server >= 0 ? server : 0, &real);
    if (rc != CUDA_SUCCESS)
        return rc;
    f = (CUfunction)real;
    unsigned char local[4096], *params = NULL;
    size_t len = 0;
    rc = pack_params(f, kernelParams, extra, &params, &len, local, sizeof local);
    if (rc != CUDA_SUCCESS)
        return rc;
    gp_call *c = gp_call_begin(op, (how & LAUNCH_SYNC) ? GP_MODE_SYNC : GP_MODE_ASYNC);
    if ((rc = gp_route_handle(c, f)) == CUDA_SUCCESS && (rc = gp_route_handle(c, stream)) == CUDA_SUCCESS) {
        /* launch_ex is launch and the attributes (src/protocol/frames.ts). */
        if (how & LAUNCH_WITH_ATTRS) {
            gp_frame_launch_ex frame;
            LAUNCH_FIELDS(frame, f, grid, block, shared, stream, params, len);
            gp_attrs_to_frame(attrs, num_attrs, frame.attrs, &frame.attrs_count);
            GP_PUT_FRAME(c, launch_ex, &frame);
        } else {
            gp_frame_launch frame;
            LAUNCH_FIELDS(frame, f, grid, block, shared, stream, params, len);
            GP_PUT_FRAME(c, launch, &frame);
        }
        rc = gp_call_finish(c);
    }
    gp_call_end(c);
    if (params != local && extra == NULL)
        free(params);
    return rc;
}

CUresult gp_fwd_cuLaunchKernel_v4000(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                                     unsigned int bz, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
{
    const unsigned grid[3] = { gx, gy, gz }, block[3] = { bx, by, bz };
    return launch(GP_OP_cuLaunchKernel_v4000, f, grid, block, sharedMemBytes, hStream, kernelParams, extra, NULL, 0, 0);
}

CUresult gp_fwd_cuLaunchKernel_v7000_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                                          unsigned int bz, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
{
    const unsigned grid[3] = { gx, gy, gz }, block[3] = { bx, by, bz };
    return launch(GP_OP_cuLaunchKernel_v7000_ptsz, f, grid, block, sharedMemBytes, hStream, kernelParams, extra, NULL, 0, 0);
}

/* A cooperative grid (grid.sync()): a launch frame under its own op, answered at once (cuda-api.ts). */
CUresult gp_fwd_cuLaunchCooperativeKernel_v9000(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                                                unsigned int bz, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams)
{
    const unsigned grid[3] = { gx, gy, gz }, block[3] = { bx, by, bz };
    return launch(GP_OP_cuLaunchCooperativeKernel_v9000, f, grid, block, sharedMemBytes, hStream, kernelParams, NULL, NULL, 0, LAUNCH_SYNC);
}

CUresult gp_fwd_cuLaunchCooperativeKernel_v9000_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                                     unsigned int by, unsigned int bz, unsigned int sharedMemBytes, CUstream hStream,
                                                     void **kernelParams)
{
    const unsigned grid[3] = { gx, gy, gz }, block[3] = { bx, by, bz };
    return launch(GP_OP_cuLaunchCooperativeKernel_v9000_ptsz, f, grid, block, sharedMemBytes, hStream, kernelParams, NULL, NULL, 0, LAUNCH_SYNC);
}

static CUresult launch_ex(uint32_t op, const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
    /* More attributes than a frame carries are refused here, before anything travels. */
    if (config == NULL || (config->numAttrs > 0 && config->attrs == NULL) || config->numAttrs > GP_FRAME_LAUNCH_EX_ATTRS_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    const unsigned grid[3] = { config->gridDimX, config->gridDimY, config->gridDimZ };
    const unsigned block[3] = { config->blockDimX, config->blockDimY, config->blockDimZ };
    return launch(op, f, grid, block, config->sharedMemBytes, config->hStream, kernelParams, extra, config->attrs, config->numAttrs, LAUNCH_WITH_ATTRS);
}

CUresult gp_fwd_cuLaunchKernelEx_v11060(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
    return launch_ex(GP_OP_cuLaunchKernelEx_v11060, config, f, kernelParams, extra);
}

CUresult gp_fwd_cuLaunchKernelEx_v11060_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
    return launch_ex(GP_OP_cuLaunchKernelEx_v11060_ptsz, config, f, kernelParams, extra);
}

/* ---- allocations: one address, one daemon ------------------------------------------------------ */

#define ALLOC_HOLDS 64

/*
 * Each daemon's address space is its own, so two daemons may hand out the same device addresses (two
 * emulators always do; two real drivers in two processes usually do), and a copy named by addresses
 * alone (cuMemcpy, cuMemcpyDtoD: what frameworks use between cards) could not tell the two apart. So
 * an allocation that overlaps another daemon's memory is held while the daemon is asked again, with
 * the rest of that memory held too in one piece: an allocator that fills the lowest free addresses
 * first (the emulator, and in practice the driver) then answers past it. What was held is freed after.
 * Should that fail (no room left under the quota), the allocation stands, the job is told once, and
 * copies that name its addresses alone are refused rather than guessed (dtod, unified below).
 */
CUresult gp_fwd_cuMemAlloc_v3020(CUdeviceptr *dptr, size_t bytesize)
{
    CUdeviceptr held[ALLOC_HOLDS];
    int kept = 0;
    CUdeviceptr past = 0;
    CUresult rc;
    int server = gp_context_server(gp_tls_context());
    for (;;) {
        rc = gp_std_cuMemAlloc_v3020(dptr, bytesize);
        if (rc != CUDA_SUCCESS)
            break;
        past = gp_alloc_overlap_end(*dptr, bytesize, server);
        if (past == 0 || kept + 2 > ALLOC_HOLDS)
            break;
        held[kept++] = *dptr;
        CUdeviceptr spacer;
        if (past > *dptr + bytesize && gp_std_cuMemAlloc_v3020(&spacer, past - (*dptr + bytesize)) == CUDA_SUCCESS)
            held[kept++] = spacer;
    }
    if (rc != CUDA_SUCCESS && kept > 0 && rc == CUDA_ERROR_OUT_OF_MEMORY) {
        /* No room for another try: the first range held is the answer, overlapping as it does. */
        *dptr = held[0];
        held[0] = held[--kept];
        rc = CUDA_SUCCESS;
        past = 1;
    }
    for (int i = 0; i < kept; i++)
        gp_fwd_cuMemFree_v3020(held[i]);
    static int said;
    if (rc == CUDA_SUCCESS && past != 0 && !__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        gp_error("device memory at 0x%llx has the same addresses on two daemons (no room under the quota to ask for "
                 "others); copies that name such memory by address alone (cuMemcpy, cuMemcpyDtoD) are refused",
                 (unsigned long long)*dptr);
    return rc;
}

#define RESERVE_TRIES 8
#define RESERVE_GRANULARITY ((size_t)2 << 20)

/*
 * The same for reserved address ranges (PyTorch's expandable segments map into them): a range that
 * overlaps another daemon's memory is asked for again at the address past that memory, which the
 * driver takes as a hint, and the first range is given back once the second is held.
 */
CUresult gp_fwd_cuMemAddressReserve_v10020(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr, unsigned long long flags)
{
    int server = gp_context_server(gp_tls_context());
    CUresult rc = gp_std_cuMemAddressReserve_v10020(ptr, size, alignment, addr, flags);
    size_t align = alignment > RESERVE_GRANULARITY ? alignment : RESERVE_GRANULARITY;
    for (int tries = 0; rc == CUDA_SUCCESS && tries < RESERVE_TRIES; tries++) {
        CUdeviceptr past = gp_alloc_overlap_end(*ptr, size, server), again;
        if (past == 0 || gp_std_cuMemAddressReserve_v10020(&again, size, alignment, (past + align - 1) / align * align, flags) != CUDA_SUCCESS)
            break; /* apart, or no other range to be had: copies naming it alone are refused if ambiguous */
        gp_fwd_cuMemAddressFree_v10020(*ptr, size);
        *ptr = again;
    }
    return rc;
}

/* ---- waits across daemons ----------------------------------------------------------------------- */

/* The daemon a stream's work goes to: its own, or for NULL and the special streams the current context's. */
static int stream_server(CUstream stream)
{
    int server = gp_handle_server(stream);
    return server >= 0 ? server : gp_context_server(gp_tls_context());
}

/*
 * A stream of one daemon cannot wait on an event of another (frameworks order a copy between two cards
 * so). The client waits for the event itself, then the stream's later work is queued after it: the
 * same order, at the cost of the host waiting.
 */
static CUresult wait_event(CUstream stream, CUevent event, unsigned flags, int per_thread)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    int taken = 0;
    CUresult rc = gp_capture_wait(stream, event, flags, &taken);
    if (rc != CUDA_SUCCESS || taken)
        return rc;
    int from = gp_handle_server(event), to = stream_server(stream);
    if (from >= 0 && to >= 0 && from != to)
        return gp_fwd_cuEventSynchronize_v2000(event);
    return per_thread ? gp_std_cuStreamWaitEvent_v7000_ptsz(stream, event, flags) : gp_std_cuStreamWaitEvent_v3020(stream, event, flags);
}

CUresult gp_fwd_cuStreamWaitEvent_v3020(CUstream s, CUevent e, unsigned int flags) { return wait_event(s, e, flags, 0); }
CUresult gp_fwd_cuStreamWaitEvent_v7000_ptsz(CUstream s, CUevent e, unsigned int flags) { return wait_event(s, e, flags, 1); }

/* ---- copies that may cross daemons ------------------------------------------------------------ */

typedef CUresult (*dtod_fn)(CUdeviceptr, CUdeviceptr, size_t);

/* One end of a copy between device addresses: the daemon, and the context there, whose memory it is. */
typedef struct {
    int server;
    CUcontext ctx;
} copy_end;

/*
 * Between two daemons, device memory travels through this host: a device-to-host copy from one and a
 * host-to-device copy to the other, in slices so a large copy never needs its whole size in RAM. Each
 * leg goes to its own end's daemon and context, and only there (gp_prefer_context): two daemons may
 * hand out the same addresses, and a leg routed by the address alone could read or write the wrong card.
 */
static CUresult copy_between_contexts(CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src, CUcontext src_ctx, size_t n)
{
    const size_t slice = 64u << 20;
    unsigned char *buf = malloc(n < slice ? (n ? n : 1) : slice);
    if (buf == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = CUDA_SUCCESS;
    for (size_t done = 0; done < n && rc == CUDA_SUCCESS; done += slice) {
        size_t k = n - done < slice ? n - done : slice;
        CUcontext previous = gp_prefer_context(src_ctx);
        rc = gp_fwd_cuMemcpyDtoH_v3020(buf, src + done, k);
        gp_prefer_context(dst_ctx);
        if (rc == CUDA_SUCCESS)
            rc = gp_fwd_cuMemcpyHtoD_v3020(dst + done, buf, k);
        gp_prefer_context(previous);
    }
    free(buf);
    return rc;
}

/*
 * An asynchronous copy through this host keeps its stream's order: what the stream holds before it
 * finishes first (the copy itself is then done before the call returns, so whatever the program queues
 * on the stream afterwards follows it).
 */
static CUresult copy_between_contexts_on(CUstream stream, int ptsz, CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src,
                                         CUcontext src_ctx, size_t n)
{
    CUresult rc = (ptsz ? gp_fwd_cuStreamSynchronize_v7000_ptsz : gp_fwd_cuStreamSynchronize_v2000)(stream);
    return rc != CUDA_SUCCESS ? rc : copy_between_contexts(dst, dst_ctx, src, src_ctx, n);
}

/* Says once that a copy between device addresses was refused as ambiguous; returns -1. */
static int refuse_ambiguous(const char *call, CUdeviceptr dst, CUdeviceptr src, int dst_ambiguous)
{
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        gp_error("%s(dst=0x%llx, src=0x%llx): %s is device memory of two daemons at the same addresses, so a copy "
                 "naming it by address alone is ambiguous; refused (CUDA_ERROR_INVALID_VALUE). cuMemcpyPeer names "
                 "the contexts and works", call, (unsigned long long)dst, (unsigned long long)src,
                 dst_ambiguous ? "the destination" : "the source");
    return -1;
}

/*
 * The ends of a copy named by two device addresses alone, from the client's records of its
 * allocations. Returns how many ends are this client's device memory (0, 1 or 2: *to and *from say
 * which, server -1 for host memory), or -1 when an end's address is held on several daemons: which one
 * the program means cannot be known, and the copy is refused with one line, once, rather than guessed.
 */
static int copy_ends(const char *call, CUdeviceptr dst, CUdeviceptr src, size_t n, copy_end *to, copy_end *from)
{
    to->server = from->server = -1;
    to->ctx = from->ctx = NULL;
    int nd = gp_alloc_holders(dst, n, &to->server, &to->ctx), ns = gp_alloc_holders(src, n, &from->server, &from->ctx);
    if (nd > 1 || ns > 1)
        return refuse_ambiguous(call, dst, src, nd > 1);
    return nd + ns;
}

/*
 * Whether two device ends must meet on this host: they are on two daemons, or in two contexts of one
 * daemon (contexts there belong to one client, but a daemon keeps every context's memory apart), or
 * an asynchronous copy's stream is on another daemon than both (no stream spans two daemons).
 */
static int apart(const copy_end *to, const copy_end *from, int has_stream, CUstream stream)
{
    if (to->server != from->server || to->ctx != from->ctx)
        return 1;
    int on = has_stream ? gp_handle_server(stream) : -1;
    return on >= 0 && on != to->server;
}

static CUresult dtod(const char *call, CUdeviceptr dst, CUdeviceptr src, size_t n, int has_stream, CUstream stream,
                     CUresult (*same_daemon)(CUdeviceptr, CUdeviceptr, size_t, CUstream))
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (has_stream) {
        int taken = 0;
        gp_capture_op op = { .call = call, .type = CU_GRAPH_NODE_TYPE_MEMCPY,
                             .copy = { .srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = src, .dstMemoryType = CU_MEMORYTYPE_DEVICE,
                                       .dstDevice = dst, .WidthInBytes = n, .Height = 1, .Depth = 1 } };
        CUresult rc = gp_capture_take(stream, &op, &taken);
        if (rc != CUDA_SUCCESS || taken)
            return rc;
    }
    copy_end to, from;
    int ends = copy_ends(call, dst, src, n, &to, &from);
    if (ends < 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (ends == 2 && apart(&to, &from, has_stream, stream))
        return has_stream ? copy_between_contexts_on(stream, has_stream == 2, dst, to.ctx, src, from.ctx, n)
                          : copy_between_contexts(dst, to.ctx, src, from.ctx, n);
    return same_daemon(dst, src, n, stream);
}

static CUresult dtod_std(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { (void)st; return gp_std_cuMemcpyDtoD_v3020(d, s, n); }
static CUresult dtod_ptds(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { (void)st; return gp_std_cuMemcpyDtoD_v7000_ptsz(d, s, n); }
static CUresult dtod_async(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { return gp_std_cuMemcpyDtoDAsync_v3020(d, s, n, st); }
static CUresult dtod_async_ptsz(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { return gp_std_cuMemcpyDtoDAsync_v7000_ptsz(d, s, n, st); }

CUresult gp_fwd_cuMemcpyDtoD_v3020(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n) { return dtod("cuMemcpyDtoD", dst, src, n, 0, NULL, dtod_std); }
CUresult gp_fwd_cuMemcpyDtoD_v7000_ptsz(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n) { return dtod("cuMemcpyDtoD", dst, src, n, 0, NULL, dtod_ptds); }

/* An asynchronous copy between daemons is done through this host in its stream's order: no single stream spans two daemons. */
CUresult gp_fwd_cuMemcpyDtoDAsync_v3020(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n, CUstream s)
{
    return dtod("cuMemcpyDtoDAsync", dst, src, n, 1, s, dtod_async);
}

CUresult gp_fwd_cuMemcpyDtoDAsync_v7000_ptsz(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n, CUstream s)
{
    return dtod("cuMemcpyDtoDAsync", dst, src, n, 2, s, dtod_async_ptsz);
}

/*
 * Unified copies: the direction comes from the client's own record of device allocations. One device
 * end is routed as any call naming an address (the stream's or current context's daemon first).
 */
static CUresult unified(uint32_t op, CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream stream, int async, int ptsz)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    copy_end to, from;
    int ends = copy_ends(async ? "cuMemcpyAsync" : "cuMemcpy", dst, src, n, &to, &from);
    if (ends < 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (ends == 0) {
        memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n); /* host to host */
        return CUDA_SUCCESS;
    }
    if (from.server < 0)
        return async ? gp_fwd_cuMemcpyHtoDAsync_v3020(dst, (const void *)(uintptr_t)src, n, stream)
                     : gp_fwd_cuMemcpyHtoD_v3020(dst, (const void *)(uintptr_t)src, n);
    if (to.server < 0)
        return async ? gp_fwd_cuMemcpyDtoHAsync_v3020((void *)(uintptr_t)dst, src, n, stream)
                     : gp_fwd_cuMemcpyDtoH_v3020((void *)(uintptr_t)dst, src, n);
    if (apart(&to, &from, async, stream))
        return async ? copy_between_contexts_on(stream, ptsz, dst, to.ctx, src, from.ctx, n)
                     : copy_between_contexts(dst, to.ctx, src, from.ctx, n);
    gp_call *c = gp_call_begin(op, async ? GP_MODE_ASYNC : GP_MODE_SYNC);
    gp_route_server(c, to.server);
    CUresult rc = CUDA_SUCCESS;
    if (async) {
        const gp_frame_memcpy_async frame = { .dst = dst, .src = src, .bytes = n, .stream = gp_handle_id(stream) };
        if ((rc = gp_route_handle(c, stream)) == CUDA_SUCCESS)
            GP_PUT_FRAME(c, memcpy_async, &frame);
    } else {
        const gp_frame_memcpy frame = { .dst = dst, .src = src, .bytes = n };
        GP_PUT_FRAME(c, memcpy, &frame);
    }
    if (rc == CUDA_SUCCESS)
        rc = gp_call_finish(c);
    gp_call_end(c);
    return rc;
}

CUresult gp_fwd_cuMemcpy_v4000(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n) { return unified(GP_OP_cuMemcpy_v4000, dst, src, n, NULL, 0, 0); }
CUresult gp_fwd_cuMemcpy_v7000_ptsz(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n) { return unified(GP_OP_cuMemcpy_v7000_ptsz, dst, src, n, NULL, 0, 0); }
CUresult gp_fwd_cuMemcpyAsync_v4000(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n, CUstream s) { return unified(GP_OP_cuMemcpyAsync_v4000, dst, src, n, s, 1, 0); }
CUresult gp_fwd_cuMemcpyAsync_v7000_ptsz(CUdeviceptr_v2 dst, CUdeviceptr_v2 src, size_t n, CUstream s) { return unified(GP_OP_cuMemcpyAsync_v7000_ptsz, dst, src, n, s, 1, 1); }

/*
 * Peer copies name both contexts. On one daemon they travel as they are; between two daemons, or on a
 * driver without peer copies (the emulator), the data goes through this host.
 */
static int peer_across(CUcontext a, CUcontext b)
{
    int sa = gp_context_server(a), sb = gp_context_server(b);
    return sa >= 0 && sb >= 0 && sa != sb;
}

typedef CUresult (*peer_fn)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t);

/* stream: an asynchronous copy's (ptsz: a per-thread default stream's call), whose order a copy through this host keeps. */
static CUresult peer(CUdeviceptr dst, CUcontext dstCtx, CUdeviceptr src, CUcontext srcCtx, size_t n, peer_fn direct,
                     int async, CUstream stream, int ptsz)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!peer_across(dstCtx, srcCtx)) {
        CUresult rc = direct(dst, dstCtx, src, srcCtx, n);
        /* A driver without peer access between these devices refuses; bad pointers fail again below. */
        if (rc != CUDA_ERROR_NOT_SUPPORTED && rc != CUDA_ERROR_INVALID_VALUE && rc != CUDA_ERROR_PEER_ACCESS_UNSUPPORTED)
            return rc;
    }
    return async ? copy_between_contexts_on(stream, ptsz, dst, dstCtx, src, srcCtx, n) : copy_between_contexts(dst, dstCtx, src, srcCtx, n);
}

static CUresult peer_sync_std(CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n) { return gp_std_cuMemcpyPeer_v4000(d, dc, s, sc, n); }
static CUresult peer_sync_ptds(CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n) { return gp_std_cuMemcpyPeer_v7000_ptsz(d, dc, s, sc, n); }

CUresult gp_fwd_cuMemcpyPeer_v4000(CUdeviceptr_v2 dst, CUcontext dstCtx, CUdeviceptr_v2 src, CUcontext srcCtx, size_t n)
{
    return peer(dst, dstCtx, src, srcCtx, n, peer_sync_std, 0, NULL, 0);
}

CUresult gp_fwd_cuMemcpyPeer_v7000_ptsz(CUdeviceptr_v2 dst, CUcontext dstCtx, CUdeviceptr_v2 src, CUcontext srcCtx, size_t n)
{
    return peer(dst, dstCtx, src, srcCtx, n, peer_sync_ptds, 0, NULL, 1);
}

/*
 * Asynchronous peer copies are done synchronously, after the work their stream holds: through this host
 * no stream spans two devices' daemons, and on one daemon the emulated driver has no peer copies either.
 */
CUresult gp_fwd_cuMemcpyPeerAsync_v4000(CUdeviceptr_v2 dst, CUcontext dstCtx, CUdeviceptr_v2 src, CUcontext srcCtx, size_t n, CUstream s)
{
    return peer(dst, dstCtx, src, srcCtx, n, peer_sync_std, 1, s, 0);
}

CUresult gp_fwd_cuMemcpyPeerAsync_v7000_ptsz(CUdeviceptr_v2 dst, CUcontext dstCtx, CUdeviceptr_v2 src, CUcontext srcCtx, size_t n, CUstream s)
{
    return peer(dst, dstCtx, src, srcCtx, n, peer_sync_ptds, 1, s, 1);
}

/* ---- pitched copies (cuMemcpy2D*) ----------------------------------------------------------------- */

/*
 * Each side of a CUDA_MEMCPY2D is decided here: host memory of this process (HOST, or UNIFIED that is
 * no allocation of this client's) or device memory on a daemon (DEVICE, or UNIFIED that is one). Host
 * rows travel packed, WidthInBytes each with no pitch gaps (docs/protocol.md, "Hand-encoded calls"),
 * in frames of at most COPY2D_SLICE bytes (whole rows, at least one), so neither end ever holds a
 * large copy whole. A copy naming an array travels as a cuMemcpy3D (copy3d.c).
 */
enum { COPY2D_HTOD = 0, COPY2D_DTOH = 1, COPY2D_DTOD = 2 };
#define COPY2D_SLICE ((size_t)64 << 20)

typedef struct {
    int host;                 /* 1: memory of this process */
    unsigned char *row0;      /* host: the first byte copied (x and y applied) */
    CUdeviceptr device;       /* device: the pointer as given; x, y and pitch travel beside it */
    size_t x, y, pitch;
    CUdeviceptr start;        /* device: the first byte copied */
    int server;               /* device: the daemon holding it, -1 when no allocation of this client's */
    CUcontext ctx;            /* device: the context it was allocated in */
    int ambiguous;            /* device: its address is held on several daemons */
} copy2d_side;

static CUresult copy2d_side_of(CUmemorytype type, const void *host, CUdeviceptr device, size_t x, size_t y, size_t pitch,
                               size_t width, size_t height, copy2d_side *out)
{
    memset(out, 0, sizeof *out);
    out->server = -1;
    uint64_t offset;
    if (__builtin_mul_overflow((uint64_t)y, (uint64_t)pitch, &offset) || __builtin_add_overflow(offset, (uint64_t)x, &offset))
        return CUDA_ERROR_INVALID_VALUE;
    switch (type) {
    case CU_MEMORYTYPE_HOST:
        out->host = 1;
        break;
    case CU_MEMORYTYPE_DEVICE:
        break;
    case CU_MEMORYTYPE_UNIFIED: {
        CUdeviceptr at;
        out->host = __builtin_add_overflow(device, offset, &at) || gp_alloc_server(at, 1) < 0;
        host = (const void *)(uintptr_t)device;
        break;
    }
    case CU_MEMORYTYPE_ARRAY:
        return CUDA_ERROR_NOT_SUPPORTED;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
    out->pitch = pitch;
    if (out->host) {
        uintptr_t first;
        /* Rows may not overlap (one row needs no pitch), as the driver requires. */
        if (host == NULL || (pitch < width && height > 1) || __builtin_add_overflow((uintptr_t)host, (uintptr_t)offset, &first))
            return CUDA_ERROR_INVALID_VALUE;
        out->row0 = (unsigned char *)first;
        return CUDA_SUCCESS;
    }
    out->device = device;
    out->x = x;
    out->y = y;
    if (__builtin_add_overflow(device, offset, &out->start))
        return CUDA_ERROR_INVALID_VALUE;
    out->server = gp_alloc_lookup(out->start, 1, &out->ctx);
    int server;
    CUcontext ctx;
    out->ambiguous = gp_alloc_holders(out->start, 1, &server, &ctx) > 1;
    return CUDA_SUCCESS;
}

/* A side's four fields in a frame, from row `row` on: a host side's are zeros (its rows are the bin). */
#define COPY2D_SIDE(f, side, s, row)                         \
    do {                                                     \
        (f).side##_device = (s)->host ? 0 : (s)->device;     \
        (f).side##_x = (s)->host ? 0 : (s)->x;               \
        (f).side##_y = (s)->host ? 0 : (s)->y + (row);       \
        (f).side##_pitch = (s)->host ? 0 : (s)->pitch;       \
    } while (0)

/* The frame's fields but the stream (memcpy_2d and memcpy_2d_async share them, src/protocol/frames.ts). */
#define COPY2D_FIELDS(f, kind_, dst, src, row, rows, width, packed)           \
    do {                                                                       \
        (f).kind = (uint32_t)(kind_);                                          \
        COPY2D_SIDE(f, dst, dst, row);                                         \
        COPY2D_SIDE(f, src, src, row);                                         \
        (f).width = (width);                                                   \
        (f).height = (rows);                                                   \
        (f).rows = (kind_) == COPY2D_HTOD ? (packed) : NULL;                   \
        (f).rows_len = (kind_) == COPY2D_HTOD ? (uint32_t)((rows) * (width)) : 0; \
    } while (0)

/*
 * One frame: rows [row, row+rows) of the copy. HtoD sends `packed` (rows * width bytes); DtoH receives
 * the rows packed into `out` (the client's receiver writes them there); the stream travels with
 * `stream_op` frames. DtoH always waits for its reply, whatever the op's mode.
 */
static CUresult copy2d_frame(uint32_t op, int mode, int kind, int with_stream, CUstream stream, const copy2d_side *dst,
                             const copy2d_side *src, size_t row, size_t rows, size_t width, const void *packed, void *out)
{
    if (kind == COPY2D_DTOH)
        mode = GP_MODE_SYNC;
    gp_call *c = gp_call_begin(op, mode);
    CUresult rc = CUDA_SUCCESS;
    /* Routed by the device memory it names, and run in the context that memory was allocated in. */
    if (!dst->host)
        gp_route_dptr(c, dst->start);
    if (!src->host)
        gp_route_dptr(c, src->start);
    if (with_stream)
        rc = gp_route_handle(c, stream);
    if (rc == CUDA_SUCCESS) {
        if (kind == COPY2D_DTOH)
            gp_expect_out(c, out, rows * width);
        if (with_stream) {
            gp_frame_memcpy_2d_async f;
            COPY2D_FIELDS(f, kind, dst, src, row, rows, width, packed);
            f.stream = gp_handle_id(stream);
            GP_PUT_FRAME(c, memcpy_2d_async, &f);
        } else {
            gp_frame_memcpy_2d f;
            COPY2D_FIELDS(f, kind, dst, src, row, rows, width, packed);
            GP_PUT_FRAME(c, memcpy_2d, &f);
        }
        rc = gp_call_finish(c);
    }
    gp_call_end(c);
    return rc;
}

/* Host rows to device rows (kind HtoD) or device rows to host rows (DtoH), slice by slice. */
static CUresult copy2d_host_device(uint32_t op, int mode, int with_stream, CUstream stream, const copy2d_side *dst,
                                   const copy2d_side *src, size_t width, size_t height)
{
    int to_device = src->host;
    const copy2d_side *host = to_device ? src : dst;
    size_t per = width >= COPY2D_SLICE ? 1 : COPY2D_SLICE / width;
    if (per > height)
        per = height;
    /* Rows already packed in the caller's memory travel from (or land in) it directly. */
    int packed = host->pitch == width || height == 1;
    unsigned char *tmp = packed ? NULL : malloc(per * width);
    if (!packed && tmp == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = CUDA_SUCCESS;
    for (size_t row = 0; row < height && rc == CUDA_SUCCESS; row += per) {
        size_t rows = height - row < per ? height - row : per;
        unsigned char *first = host->row0 + row * host->pitch;
        if (to_device) {
            if (!packed)
                for (size_t i = 0; i < rows; i++)
                    memcpy(tmp + i * width, first + i * host->pitch, width);
            rc = copy2d_frame(op, mode, COPY2D_HTOD, with_stream, stream, dst, src, row, rows, width, packed ? first : tmp, NULL);
        } else {
            rc = copy2d_frame(op, mode, COPY2D_DTOH, with_stream, stream, dst, src, row, rows, width, NULL, packed ? first : tmp);
            if (rc == CUDA_SUCCESS && !packed)
                for (size_t i = 0; i < rows; i++)
                    memcpy(first + i * host->pitch, tmp + i * width, width);
        }
    }
    free(tmp);
    return rc;
}

/*
 * Device rows on two daemons (or in two contexts of one) meet here: each slice is read packed from the
 * source and written from this host to the destination, synchronously, with `sync_op`.
 */
static CUresult copy2d_staged(uint32_t sync_op, const copy2d_side *dst, const copy2d_side *src, size_t width, size_t height)
{
    size_t per = width >= COPY2D_SLICE ? 1 : COPY2D_SLICE / width;
    if (per > height)
        per = height;
    unsigned char *tmp = malloc(per * width);
    if (tmp == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    copy2d_side packed = { .host = 1, .row0 = tmp, .pitch = width, .server = -1 };
    CUresult rc = CUDA_SUCCESS;
    for (size_t row = 0; row < height && rc == CUDA_SUCCESS; row += per) {
        size_t rows = height - row < per ? height - row : per;
        rc = copy2d_frame(sync_op, GP_MODE_SYNC, COPY2D_DTOH, 0, NULL, &packed, src, row, rows, width, NULL, tmp);
        if (rc == CUDA_SUCCESS)
            rc = copy2d_frame(sync_op, GP_MODE_SYNC, COPY2D_HTOD, 0, NULL, dst, &packed, row, rows, width, tmp, NULL);
    }
    free(tmp);
    return rc;
}

/*
 * op: the call's own op; sync_op: the synchronous op of the same default-stream kind, for what cannot
 * ride the stream (staged copies, a stream on another daemon than the memory).
 */
static CUresult copy2d(uint32_t op, uint32_t sync_op, const CUDA_MEMCPY2D *p, int async, CUstream stream)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (p->dstMemoryType == CU_MEMORYTYPE_ARRAY || p->srcMemoryType == CU_MEMORYTYPE_ARRAY)
        return gp_copy2d_as_3d(p, sync_op == GP_OP_cuMemcpy2D_v7000_ptsz || sync_op == GP_OP_cuMemcpy2DUnaligned_v7000_ptsz, async, stream);
    if (async) {
        int taken = 0;
        gp_capture_op op = { .call = "cuMemcpy2DAsync", .type = CU_GRAPH_NODE_TYPE_MEMCPY, .copy = gp_memcpy2d_as_3d(p) };
        CUresult rc = gp_capture_take(stream, &op, &taken);
        if (rc != CUDA_SUCCESS || taken)
            return rc;
    }
    size_t w = p->WidthInBytes, h = p->Height;
    copy2d_side dst, src;
    CUresult rc = copy2d_side_of(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstXInBytes, p->dstY, p->dstPitch, w, h, &dst);
    if (rc == CUDA_SUCCESS)
        rc = copy2d_side_of(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcXInBytes, p->srcY, p->srcPitch, w, h, &src);
    if (rc != CUDA_SUCCESS || w == 0 || h == 0)
        return rc;
    if (dst.host && src.host) {
        for (size_t row = 0; row < h; row++)
            memmove(dst.row0 + row * dst.pitch, src.row0 + row * src.pitch, w);
        return CUDA_SUCCESS;
    }
    /* Host rows and a daemon on this host: the box copy carries them through shared memory (copy3d.c). */
    if (dst.host != src.host && gp_shm_local(dst.host ? src.server : dst.server))
        return gp_copy2d_as_3d(p, sync_op == GP_OP_cuMemcpy2D_v7000_ptsz || sync_op == GP_OP_cuMemcpy2DUnaligned_v7000_ptsz, async, stream);
    /* Between two device ends, one held on several daemons: which is meant cannot be known (copy_ends). */
    if (!dst.host && !src.host && (dst.ambiguous || src.ambiguous)) {
        refuse_ambiguous("cuMemcpy2D", dst.start, src.start, dst.ambiguous);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (!dst.host && !src.host && dst.server >= 0 && src.server >= 0 && (dst.server != src.server || dst.ctx != src.ctx))
        return copy2d_staged(sync_op, &dst, &src, w, h);
    /* No stream spans two daemons: a stream elsewhere than the memory means a synchronous copy. */
    int server = !dst.host && dst.server >= 0 ? dst.server : src.server;
    if (async && server >= 0 && gp_handle_server(stream) >= 0 && gp_handle_server(stream) != server) {
        op = sync_op;
        async = 0;
    }
    int mode = async ? GP_MODE_ASYNC : GP_MODE_SYNC;
    if (!dst.host && !src.host)
        return copy2d_frame(op, mode, COPY2D_DTOD, async, stream, &dst, &src, 0, h, w, NULL, NULL);
    return copy2d_host_device(op, mode, async, stream, &dst, &src, w, h);
}

CUresult gp_fwd_cuMemcpy2D_v3020(const CUDA_MEMCPY2D *p) { return copy2d(GP_OP_cuMemcpy2D_v3020, GP_OP_cuMemcpy2D_v3020, p, 0, NULL); }
CUresult gp_fwd_cuMemcpy2D_v7000_ptsz(const CUDA_MEMCPY2D *p) { return copy2d(GP_OP_cuMemcpy2D_v7000_ptsz, GP_OP_cuMemcpy2D_v7000_ptsz, p, 0, NULL); }
CUresult gp_fwd_cuMemcpy2DUnaligned_v3020(const CUDA_MEMCPY2D *p)
{
    return copy2d(GP_OP_cuMemcpy2DUnaligned_v3020, GP_OP_cuMemcpy2DUnaligned_v3020, p, 0, NULL);
}
CUresult gp_fwd_cuMemcpy2DUnaligned_v7000_ptsz(const CUDA_MEMCPY2D *p)
{
    return copy2d(GP_OP_cuMemcpy2DUnaligned_v7000_ptsz, GP_OP_cuMemcpy2DUnaligned_v7000_ptsz, p, 0, NULL);
}
CUresult gp_fwd_cuMemcpy2DAsync_v3020(const CUDA_MEMCPY2D *p, CUstream s)
{
    return copy2d(GP_OP_cuMemcpy2DAsync_v3020, GP_OP_cuMemcpy2DUnaligned_v3020, p, 1, s);
}
CUresult gp_fwd_cuMemcpy2DAsync_v7000_ptsz(const CUDA_MEMCPY2D *p, CUstream s)
{
    return copy2d(GP_OP_cuMemcpy2DAsync_v7000_ptsz, GP_OP_cuMemcpy2DUnaligned_v7000_ptsz, p, 1, s);
}
