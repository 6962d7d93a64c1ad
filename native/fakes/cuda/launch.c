/*
 * Kernel launches: checked like the real driver's, scheduled on the time model, then run eagerly on
 * the calling thread by the kernel library that implements the kernel, without the lock held. A
 * kernel's error becomes its context's sticky error.
 */
#include "emu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define EMU_STACK_PARAMS 32

typedef struct {
    unsigned v[3];
} dims;

/* What the memory callback needs: whose allocations, and what it pinned for the run. */
typedef struct {
    CUcontext ctx;
    unsigned long long ctx_id;
    CUmodule mod;               /* the launched function's module in ctx: its variables */
    emu_alloc **pins;
    size_t count, cap;
    struct CUarray_st **arrays; /* arrays the run's texture views read */
    size_t array_count, array_cap;
} run_state;

/* Pins a once per run, however often the kernel asks for it. */
static bool pin_for_run(run_state *st, emu_alloc *a)
{
    for (size_t i = st->count; i > 0; i--)
        if (st->pins[i - 1] == a)
            return true;
    if (st->count == st->cap) {
        size_t cap = st->cap == 0 ? 8 : st->cap * 2;
        emu_alloc **grown = realloc(st->pins, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        st->pins = grown;
        st->cap = cap;
    }
    st->pins[st->count++] = a;
    emu_pin(a);
    return true;
}

/* Pins an array once per run, as pin_for_run an allocation. */
static bool pin_array_for_run(run_state *st, struct CUarray_st *a)
{
    for (size_t i = st->array_count; i > 0; i--)
        if (st->arrays[i - 1] == a)
            return true;
    if (st->array_count == st->array_cap) {
        size_t cap = st->array_cap == 0 ? 4 : st->array_cap * 2;
        struct CUarray_st **grown = realloc(st->arrays, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        st->arrays = grown;
        st->array_cap = cap;
    }
    st->arrays[st->array_count++] = a;
    emu_array_pin(a);
    return true;
}

static bool ctx_alive(const run_state *st)
{
    return emu_ctx_valid(st->ctx) && st->ctx->id == st->ctx_id;
}

static void *launch_memory(const gpupool_emu_launch *launch, CUdeviceptr ptr, size_t bytes)
{
    run_state *st = launch->internal;
    void *host = NULL;
    emu_lock();
    emu_alloc *a = ctx_alive(st) ? emu_find_device(ptr, bytes) : NULL;
    if (a != NULL && a->ctx != st->ctx)
        a = NULL;
    else if (a == NULL && ctx_alive(st))
        a = emu_find_host((const void *)(uintptr_t)ptr, bytes); /* mapped pinned memory */
    if (a != NULL && pin_for_run(st, a))
        host = emu_host_of(a, ptr);
    emu_unlock();
    return host;
}

static void *launch_global(const gpupool_emu_launch *launch, const char *name, size_t *bytes)
{
    run_state *st = launch->internal;
    void *host = NULL;
    emu_lock();
    emu_alloc *a = ctx_alive(st) && st->mod != NULL && emu_handle_is(st->mod, EMU_H_MODULE) && name != NULL
                       ? emu_module_global_alloc(st->mod, name)
                       : NULL;
    if (a != NULL && pin_for_run(st, a)) {
        host = a->host;
        if (bytes != NULL)
            *bytes = a->bytes;
    }
    emu_unlock();
    return host;
}

/* Formatted outside the lock, appended inside it (the context may have gone while the kernel ran). */
static int launch_printf(const gpupool_emu_launch *launch, const char *format, ...)
{
    run_state *st = launch->internal;
    char small[512], *text = small;
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(small, sizeof small, format, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof small) {
        if ((text = malloc((size_t)n + 1)) == NULL)
            return -1;
        va_start(ap, format);
        vsnprintf(text, (size_t)n + 1, format, ap);
        va_end(ap);
    }
    emu_lock();
    if (ctx_alive(st))
        emu_printf_append(st->ctx, text, (size_t)n);
    emu_unlock();
    if (text != small)
        free(text);
    return n;
}

static int launch_texture(const gpupool_emu_launch *launch, unsigned long long tex, float x, float y, float z, float texel[4])
{
    run_state *st = launch->internal;
    const float coord[3] = { x, y, z };
    emu_lock();
    CUcontext ctx = ctx_alive(st) ? st->ctx : NULL;
    emu_unlock();
    return emu_texture_fetch(ctx, tex, coord, texel);
}

static int launch_texture_lod(const gpupool_emu_launch *launch, unsigned long long tex, float x, float y, float z, float lod, void *texel)
{
    run_state *st = launch->internal;
    const float coord[3] = { x, y, z };
    emu_lock();
    CUcontext ctx = ctx_alive(st) ? st->ctx : NULL;
    emu_unlock();
    return emu_texture_fetch_lod(ctx, tex, coord, lod, texel);
}

/* The texture resolved once; what it reads stays mapped until the run ends, however it is freed. */
static int launch_texture_view(const gpupool_emu_launch *launch, unsigned long long tex, gpupool_emu_texture_view *view)
{
    run_state *st = launch->internal;
    struct CUarray_st *array = NULL;
    emu_alloc *alloc = NULL;
    emu_lock();
    bool ok = ctx_alive(st) && emu_texture_view(st->ctx, tex, view, &array, &alloc) &&
              (array != NULL ? pin_array_for_run(st, array) : pin_for_run(st, alloc));
    emu_unlock();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_ILLEGAL_ADDRESS;
}

static int launch_surface(const gpupool_emu_launch *launch, unsigned long long surf, size_t x_bytes, size_t y, size_t z, void *data,
                          size_t bytes, int store)
{
    run_state *st = launch->internal;
    emu_lock();
    CUcontext ctx = ctx_alive(st) ? st->ctx : NULL;
    emu_unlock();
    return emu_surface_access(ctx, surf, x_bytes, y, z, data, bytes, store != 0);
}

/* ---- checks --------------------------------------------------------------------------------- */

static CUresult check_dims(const emu_device *dev, const emu_entry *e, dims grid, dims block, unsigned shared)
{
    static const CUdevice_attribute grid_max[3] = { CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
                                                    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                                                    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z };
    static const CUdevice_attribute block_max[3] = { CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X,
                                                     CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
                                                     CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z };
    unsigned long long threads = 1;
    for (int i = 0; i < 3; i++) {
        if (grid.v[i] == 0 || grid.v[i] > (unsigned)emu_device_attribute(dev, grid_max[i]))
            return CUDA_ERROR_INVALID_VALUE;
        if (block.v[i] == 0 || block.v[i] > (unsigned)emu_device_attribute(dev, block_max[i]))
            return CUDA_ERROR_INVALID_VALUE;
        threads *= block.v[i];
    }
    if (threads > (unsigned long long)e->attrs->v[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK])
        return CUDA_ERROR_INVALID_VALUE;
    if (shared > (unsigned)e->attrs->v[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES])
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

/* The `extra` form: one buffer holding every parameter at its ABI offset. */
static CUresult params_from_extra(const emu_entry *e, void **extra, void **argv)
{
    char *buffer = NULL;
    size_t size = 0;
    bool have_size = false;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
        if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) {
            buffer = extra[i + 1];
        } else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1] != NULL) {
            size = *(const size_t *)extra[i + 1];
            have_size = true;
        } else {
            return CUDA_ERROR_INVALID_VALUE;
        }
    }
    if (buffer == NULL || !have_size)
        return CUDA_ERROR_INVALID_VALUE;
    size_t end = 0;
    for (int i = 0; i < emu_param_count(e); i++) {
        size_t offset, sz;
        emu_param_layout(e, (size_t)i, &offset, &sz);
        if (offset > size || sz > size - offset)
            return CUDA_ERROR_INVALID_VALUE;
        if (offset + sz > end)
            end = offset + sz;
        argv[i] = buffer + offset;
    }
    /* As a real driver does (seen on an H200, driver 580.159): a buffer larger than the parameters. */
    return size > end ? CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES : CUDA_SUCCESS;
}

static CUresult params_for(const emu_entry *e, void **kernelParams, void **extra, void ***argv, void **stack)
{
    int count = emu_param_count(e);
    if (kernelParams != NULL && extra != NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (extra == NULL) {
        if (count > 0 && kernelParams == NULL)
            return CUDA_ERROR_INVALID_VALUE;
        *argv = kernelParams;
        return CUDA_SUCCESS;
    }
    *argv = count <= EMU_STACK_PARAMS ? stack : malloc((size_t)count * sizeof(void *));
    if (*argv == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = params_from_extra(e, extra, *argv);
    if (rc != CUDA_SUCCESS && *argv != stack)
        free(*argv);
    return rc;
}

/* ---- the launch ----------------------------------------------------------------------------- */

typedef struct {
    const void *f;
    dims grid, block;
    unsigned shared;
    CUstream stream;
    void **params, **extra;
    bool per_thread;
    bool cooperative; /* every block resident at once (grid.sync()): bounded by occupancy */
} launch_request;

/*
 * A cooperative grid must fit the card at once, as the real driver checks: at most the occupancy
 * calculator's blocks per multiprocessor times the multiprocessors, else
 * CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE. The card must say it can (COOPERATIVE_LAUNCH).
 */
static CUresult check_cooperative(const emu_device *dev, const emu_entry *e, const launch_request *r)
{
    if (!emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH))
        return CUDA_ERROR_NOT_SUPPORTED;
    unsigned long long blocks = (unsigned long long)r->grid.v[0] * r->grid.v[1] * r->grid.v[2];
    int threads = (int)(r->block.v[0] * r->block.v[1] * r->block.v[2]);
    unsigned long long resident = (unsigned long long)emu_active_blocks(e, dev, threads, r->shared) *
                                  (unsigned long long)emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    return blocks > resident ? CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE : CUDA_SUCCESS;
}

static int launch_set_conditional(const gpupool_emu_launch *launch, unsigned long long handle, unsigned value)
{
    (void)launch;
    return (int)emu_cond_set(handle, value);
}

static CUdeviceptr launch_heap_alloc(const gpupool_emu_launch *launch, size_t bytes)
{
    run_state *st = launch->internal;
    emu_lock();
    CUdeviceptr p = ctx_alive(st) ? emu_heap_alloc(st->ctx, bytes) : 0;
    emu_unlock();
    return p;
}

static int launch_heap_free(const gpupool_emu_launch *launch, CUdeviceptr ptr)
{
    run_state *st = launch->internal;
    emu_lock();
    CUresult rc = ctx_alive(st) ? emu_heap_free(st->ctx, ptr) : CUDA_ERROR_CONTEXT_IS_DESTROYED;
    emu_unlock();
    return (int)rc;
}

/* Lock held on entry and on return; dropped while the kernel runs. */
static CUresult run_kernel(CUcontext ctx, const emu_entry *e, const launch_request *r, void **argv, uint64_t *device_ns)
{
    run_state st = { .ctx = ctx, .ctx_id = ctx->id };
    if (emu_handle_is(r->f, EMU_H_FUNCTION))
        st.mod = ((const struct CUfunc_st *)r->f)->mod;
    else if (emu_library_module(((const struct CUkern_st *)r->f)->lib, ctx, &st.mod) != CUDA_SUCCESS)
        st.mod = NULL;
    gpupool_emu_launch launch = {
        .grid = { r->grid.v[0], r->grid.v[1], r->grid.v[2] },
        .block = { r->block.v[0], r->block.v[1], r->block.v[2] },
        .shared_bytes = r->shared,
        .memory = launch_memory,
        .internal = &st,
        .device_ns = *device_ns,
        .global = launch_global,
        .printf = launch_printf,
        .texture = launch_texture,
        .surface = launch_surface,
        .texture_lod = launch_texture_lod,
        .texture_view = launch_texture_view,
        .set_conditional = launch_set_conditional,
        .heap_alloc = launch_heap_alloc,
        .heap_free = launch_heap_free,
    };
    emu_g.stats.kernels_launched++;
    emu_unlock();
    CUresult rc = (CUresult)e->impl->run(&launch, argv);
    emu_lock();
    for (size_t i = 0; i < st.count; i++)
        emu_unpin(st.pins[i]);
    free(st.pins);
    for (size_t i = 0; i < st.array_count; i++)
        emu_array_unpin(st.arrays[i]);
    free(st.arrays);
    if (rc != CUDA_SUCCESS && ctx_alive(&st) && ctx->sticky == CUDA_SUCCESS)
        ctx->sticky = rc;
    /* A failed kernel's output (an assert's message) goes out now: the calls that report its error
     * answer without reaching a flush point, yet a GPU's synchronisation prints it. */
    if (rc != CUDA_SUCCESS && ctx_alive(&st))
        emu_printf_flush(ctx);
    /* The context (and the stream with it) may have been destroyed while the kernel ran. */
    *device_ns = ctx_alive(&st) ? launch.device_ns : UINT64_MAX;
    return rc;
}

static CUresult launch(const launch_request *r)
{
    CUcontext ctx;
    struct CUstream_st *s;
    emu_entry e;
    void *stack[EMU_STACK_PARAMS], **argv;
    CUresult rc = emu_begin_op(r->stream, true, r->per_thread, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    emu_printf_flush(ctx); /* a launch starts by flushing what earlier kernels printed, as a GPU's does */
    rc = emu_entry_of(r->f, ctx, &e); /* a CUfunction must belong to the stream's context */
    if (rc == CUDA_SUCCESS)
        rc = check_dims(ctx->dev, &e, r->grid, r->block, r->shared);
    if (rc == CUDA_SUCCESS && r->cooperative)
        rc = check_cooperative(ctx->dev, &e, r);
    /* In the image, but no kernel library implements it: a timed no-op in no-op mode, as long as the
     * image says its parameters (the launch's are checked against them), else no binary. */
    bool noop = rc == CUDA_SUCCESS && e.impl == NULL;
    if (noop && (!emu_g.stats.noop_kernels || emu_param_count(&e) < 0))
        rc = CUDA_ERROR_NO_BINARY_FOR_GPU;
    if (rc == CUDA_SUCCESS)
        rc = params_for(&e, r->params, r->extra, &argv, stack);
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    /* A capturing stream records the launch (graph.c); it runs when the graph is launched. */
    if (s != NULL && s->capture != NULL) {
        const unsigned grid[3] = { r->grid.v[0], r->grid.v[1], r->grid.v[2] }, block[3] = { r->block.v[0], r->block.v[1], r->block.v[2] };
        rc = emu_graph_capture_launch(s->capture, r->f, grid, block, r->shared, &e, argv);
        if (argv != stack && argv != r->params)
            free(argv);
        return emu_leave(rc);
    }
    if (noop) {
        emu_g.stats.kernels_launched++;
        emu_g.stats.noop_launches++;
        emu_enqueue(s, emu_g.kernel_ns, true);
        if (argv != stack && argv != r->params)
            free(argv);
        return emu_leave(CUDA_SUCCESS);
    }
    /* The kernel runs first (eagerly, as always): it may say how long it takes. */
    uint64_t device_ns = e.impl->device_ns != 0 ? e.impl->device_ns : emu_g.kernel_ns;
    rc = run_kernel(ctx, &e, r, argv, &device_ns);
    if (device_ns != UINT64_MAX)
        emu_enqueue(s, device_ns, true);
    if (argv != stack && argv != r->params)
        free(argv);
    return emu_leave(rc);
}

static CUresult launch_kernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                              unsigned bz, unsigned shared, CUstream hStream, void **kernelParams, void **extra,
                              bool per_thread, bool cooperative)
{
    launch_request r = { f, { { gx, gy, gz } }, { { bx, by, bz } }, shared, hStream, kernelParams, extra,
                         per_thread, cooperative };
    return launch(&r);
}

CUresult emu_launch_node(const emu_graph_node *n, CUstream stream, bool per_thread)
{
    void *stack[EMU_STACK_PARAMS], **argv = n->count <= EMU_STACK_PARAMS ? stack : malloc((size_t)n->count * sizeof(void *));
    if (argv == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (int i = 0; i < n->count; i++)
        argv[i] = n->params + n->offsets[i];
    launch_request r = { n->f, { { n->grid[0], n->grid[1], n->grid[2] } }, { { n->block[0], n->block[1], n->block[2] } }, n->shared,
                         stream, n->count > 0 ? argv : NULL, NULL, per_thread, false };
    CUresult rc = launch(&r);
    if (argv != stack)
        free(argv);
    return rc;
}

/* cudart passes a CUkernel where a CUfunction is declared: both are accepted. */
CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
{
    return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
                         kernelParams, extra, false, false);
}

CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                     unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                     unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                     void **kernelParams, void **extra)
{
    return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
                         kernelParams, extra, true, false);
}

/* Launch attributes (clusters, priorities, ...) are accepted and not modelled, but for COOPERATIVE,
 * which makes it a cooperative launch (its grid bounded as cuLaunchCooperativeKernel's). */
static CUresult launch_ex(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra,
                          bool per_thread)
{
    if (config == NULL || (config->numAttrs > 0 && config->attrs == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    bool cooperative = false;
    for (unsigned i = 0; i < config->numAttrs; i++)
        if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE)
            cooperative = config->attrs[i].value.cooperative != 0;
    return launch_kernel(f, config->gridDimX, config->gridDimY, config->gridDimZ, config->blockDimX,
                         config->blockDimY, config->blockDimZ, config->sharedMemBytes, config->hStream,
                         kernelParams, extra, per_thread, cooperative);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
    return launch_ex(config, f, kernelParams, extra, false);
}

CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                       void **extra)
{
    return launch_ex(config, f, kernelParams, extra, true);
}

/* A cooperative grid: its kernel library's CPU kernel runs the whole grid in phases, a grid.sync()
 * being the boundary between two passes over every block (docs/emulator.md). */
CUresult CUDAAPI cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                           unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                           unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                           void **kernelParams)
{
    return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
                         kernelParams, NULL, false, true);
}

CUresult CUDAAPI cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                                unsigned int gridDimZ, unsigned int blockDimX,
                                                unsigned int blockDimY, unsigned int blockDimZ,
                                                unsigned int sharedMemBytes, CUstream hStream, void **kernelParams)
{
    return launch_kernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
                         kernelParams, NULL, true, true);
}

/*
 * Clusters of a kernel that fit the card at once. The model runs one block per multiprocessor at a
 * time, so it is the multiprocessors divided by the cluster's blocks (its CLUSTER_DIMENSION attribute,
 * else 1). Clusters exist from compute capability 9.0; at most 8 blocks (portable) per cluster.
 */
CUresult CUDAAPI cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func, const CUlaunchConfig *config)
{
    if (numClusters == NULL || config == NULL || (config->numAttrs > 0 && config->attrs == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    CUcontext ctx;
    struct CUstream_st *s;
    emu_entry e;
    CUresult rc = emu_begin_op(config->hStream, true, false, &ctx, &s);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_entry_of(func, ctx, &e);
    dims grid = { { config->gridDimX, config->gridDimY, config->gridDimZ } };
    dims block = { { config->blockDimX, config->blockDimY, config->blockDimZ } };
    if (rc == CUDA_SUCCESS)
        rc = check_dims(ctx->dev, &e, grid, block, config->sharedMemBytes);
    unsigned long long cluster = 1;
    for (unsigned i = 0; rc == CUDA_SUCCESS && i < config->numAttrs; i++) {
        const CUlaunchAttribute *a = &config->attrs[i];
        if (a->id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
            cluster = (unsigned long long)a->value.clusterDim.x * a->value.clusterDim.y * a->value.clusterDim.z;
    }
    if (rc == CUDA_SUCCESS && (ctx->dev->cc_major < 9 || cluster == 0 || cluster > 8))
        rc = CUDA_ERROR_INVALID_CLUSTER_SIZE;
    if (rc == CUDA_SUCCESS)
        *numClusters = (int)((unsigned long long)emu_device_attribute(ctx->dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) / cluster);
    return emu_leave(rc);
}
