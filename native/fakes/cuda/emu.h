/*
 * Internals of the emulated CUDA driver (docs/emulator.md). Every source of the library includes
 * this header first.
 *
 * cuda.h is read in its "driver implementation" mode (__CUDA_API_VERSION_INTERNAL): it then declares
 * every exported variant under its real name (cuMemAlloc_v2, cuMemcpyHtoD_v2_ptds, cuLaunchKernel_ptsz,
 * the legacy cuCtxDestroy, ...), so each definition here is checked against NVIDIA's prototype. The
 * unversioned macros are gone in that mode: code here always spells the exact versioned name.
 *
 * Locking: one process-wide mutex (emu_lock) guards all driver state. It is never held while a
 * kernel runs, while data is copied, or while a call sleeps on the time model. Allocations (device
 * or pinned host) used outside the lock are pinned (emu_pin) so that a concurrent free only unmaps
 * them at the last unpin.
 */
#ifndef GPUPOOL_EMU_INTERNAL_H
#define GPUPOOL_EMU_INTERNAL_H

#define __CUDA_API_VERSION_INTERNAL 1

/* Every function cuda.h declares is exported when this library defines it; the rest stays hidden. */
#pragma GCC visibility push(default)
#include <cuda.h>
#include <cudaProfiler.h>
#include "gpupool_emu.h"
#pragma GCC visibility pop

#include "../fixture.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_LIB "cuda"          /* prefix of messages on stderr: "fake cuda: ..." */
#define EMU_VENDOR "nvidia"     /* fixture section */
#define EMU_DRIVER_VERSION 13000
#define EMU_MAX_DEVICES 64
#define EMU_CTX_STACK_MAX 64    /* per-thread context stack depth */
#define EMU_FUNC_ATTR_COUNT CU_FUNC_ATTRIBUTE_MAX

/* ---- intrusive lists ------------------------------------------------------------------------ */

typedef struct emu_link {
    struct emu_link *prev, *next;
} emu_link;

#define EMU_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void emu_list_init(emu_link *head)
{
    head->prev = head->next = head;
}

static inline bool emu_list_empty(const emu_link *head)
{
    return head->next == head;
}

static inline void emu_list_add(emu_link *head, emu_link *item)
{
    item->prev = head->prev;
    item->next = head;
    head->prev->next = item;
    head->prev = item;
}

static inline void emu_list_del(emu_link *item)
{
    item->prev->next = item->next;
    item->next->prev = item->prev;
    item->prev = item->next = item;
}

#define EMU_FOR_EACH(pos, head) for (emu_link *pos = (head)->next; pos != (head); pos = pos->next)
/* Safe against removal of pos. */
#define EMU_FOR_EACH_SAFE(pos, head)                                                                 \
    for (emu_link *pos = (head)->next, *pos##_next = pos->next; pos != (head);                      \
         pos = pos##_next, pos##_next = pos->next)

/* ---- memory --------------------------------------------------------------------------------- */

typedef enum {
    EMU_MEM_DEVICE,             /* cuMemAlloc, cuMemAllocPitch */
    EMU_MEM_HOST,               /* pinned host memory */
    EMU_MEM_POOL,               /* stream-ordered: cuMemAllocAsync, cuMemAllocFromPoolAsync */
    EMU_MEM_MAPPING,            /* a cuMemMap mapping of physical memory (vmm.c) */
    EMU_MEM_RESERVATION,        /* a cuMemAddressReserve range (vmm.c): no memory behind it */
    EMU_MEM_GLOBAL,             /* a module's __device__ or __constant__ variable: freed with the module */
    EMU_MEM_HEAP,               /* a context's device heap (heap.c): freed with the context */
} emu_mem_kind;

struct emu_phys;

/* One device allocation, pinned host block, pool allocation, VMM mapping or address reservation. */
typedef struct emu_alloc {
    emu_link link;              /* in its context's allocs or host_allocs (mappings, reservations: none) */
    struct CUctx_st *ctx;       /* a mapping's: the context current at cuMemMap, NULL once it is gone */
    emu_mem_kind kind;
    struct CUmemPoolHandle_st *pool; /* EMU_MEM_POOL: the pool it came from */
    struct emu_phys *phys;      /* EMU_MEM_MAPPING: the memory it maps (a reference) */
    bool accessible;            /* EMU_MEM_MAPPING: cuMemSetAccess granted its device read/write */
    uint64_t start;             /* map key: the device address, or the host address */
    size_t span;                /* address space it occupies in its map */
    size_t bytes;               /* as requested */
    void *host;                 /* the memory behind it */
    size_t map_bytes;           /* length of the mapping at host */
    unsigned host_flags;        /* cuMemHostAlloc flags */
    bool registered;            /* EMU_MEM_HOST of cuMemHostRegister: the caller's memory, never unmapped here */
    unsigned pins;              /* users outside the lock */
    bool dead;                  /* freed while pinned: unmapped at the last unpin */
    unsigned long long id;      /* CU_POINTER_ATTRIBUTE_BUFFER_ID */
} emu_alloc;

/* Physical memory of cuMemCreate (vmm.c). Its handle is the pointer, valid until cuMemRelease; the
 * memory lives until the handle is released and every mapping of it is gone. */
typedef struct emu_phys {
    emu_link link;              /* in emu_g.physicals */
    struct emu_device *dev;
    size_t bytes;
    void *host;
    size_t map_bytes;
    unsigned refs;              /* the handle until cuMemRelease, and each mapping */
} emu_phys;

/* A memory pool (mempool.c): a device's default one, or one of cuMemPoolCreate. */
struct CUmemPoolHandle_st {
    emu_link link;              /* in emu_g.pools */
    struct emu_device *dev;
    bool is_default;
    bool destroyed;             /* cuMemPoolDestroy with allocations outstanding: freed at the last */
    uint64_t threshold;         /* CU_MEMPOOL_ATTR_RELEASE_THRESHOLD */
    uint64_t max_size;          /* 0: the card's memory */
    uint64_t used, used_high;   /* bytes handed out */
    uint64_t cached, reserved_high; /* freed bytes kept for reuse (up to the threshold) */
    unsigned long long allocations;
    int reuse[3];               /* the CU_MEMPOOL_ATTR_REUSE_* flags: kept, not acted on */
};

/* A CUDA array (array.c): a standalone one, or a level of a mipmapped array. */
struct CUarray_st {
    emu_link link;              /* in ctx->arrays (a level: in no list) */
    struct CUctx_st *ctx;
    struct CUmipmappedArray_st *mipmap; /* the mipmapped array it is a level of, or NULL */
    CUDA_ARRAY3D_DESCRIPTOR_v2 desc;
    size_t bytes;
    void *host;
    size_t map_bytes;
    unsigned pins;              /* copies outside the lock */
    bool dead;                  /* destroyed while pinned: unmapped at the last unpin */
};

struct CUmipmappedArray_st {
    emu_link link;              /* in ctx->mipmaps */
    struct CUctx_st *ctx;
    unsigned levels;
    struct CUarray_st **level;
    size_t bytes;
};

/* Allocations sorted by start, for interval look-ups. */
typedef struct emu_range_map {
    emu_alloc **items;
    size_t count, cap;
} emu_range_map;

/* ---- devices -------------------------------------------------------------------------------- */

typedef struct {
    int attribute;
    int value;
} emu_attr_override;

typedef struct emu_device {
    int ordinal;
    char name[256];
    unsigned char uuid[16];
    fx_pci pci;
    unsigned pci_device_id;     /* (device << 16) | vendor */
    unsigned pci_subsystem_id;
    uint64_t total_mem, reserved_mem, used_mem;
    int cc_major, cc_minor;
    emu_attr_override *overrides;
    size_t override_count;
    uint64_t va_base;           /* reserved PROT_NONE range its device addresses come from */
    size_t va_size;
    emu_range_map allocs;
    struct CUmemPoolHandle_st *default_pool, *current_pool; /* made at first use (mempool.c) */
    uint64_t compute_free_ns;   /* when its one compute engine is free (time model) */
    struct CUctx_st *primary;   /* created at the first retain, kept (inactive) after a reset */
    unsigned primary_refs;
    unsigned primary_flags;
} emu_device;

/* ---- handles -------------------------------------------------------------------------------- */

typedef enum {
    EMU_H_CONTEXT = 1,
    EMU_H_STREAM,
    EMU_H_EVENT,
    EMU_H_MODULE,
    EMU_H_FUNCTION,
    EMU_H_LIBRARY,
    EMU_H_KERNEL,
    EMU_H_DEAD_CONTEXT,         /* a destroyed context: CUDA_ERROR_CONTEXT_IS_DESTROYED, not INVALID */
    EMU_H_ARRAY,
    EMU_H_MIPMAP,
    EMU_H_POOL,
    EMU_H_PHYS,                 /* a CUmemGenericAllocationHandle not yet released */
    EMU_H_GRAPH,                /* a CUgraph (graph.c) */
    EMU_H_GRAPH_EXEC,           /* a CUgraphExec */
    EMU_H_LINK,                 /* a CUlinkState (link.c) */
    EMU_H_TEXTURE,              /* a CUtexObject (texture.c) */
    EMU_H_SURFACE,              /* a CUsurfObject */
    EMU_H_GRAPH_NODE,           /* a CUgraphNode of a graph built node by node (graph_cond.c) */
    EMU_H_COND,                 /* a CUgraphConditionalHandle */
} emu_handle_kind;

typedef enum {
    EMU_STREAM_LEGACY,          /* NULL / CU_STREAM_LEGACY: synchronises with blocking streams */
    EMU_STREAM_PER_THREAD,      /* CU_STREAM_PER_THREAD and NULL in _ptsz/_ptds calls */
    EMU_STREAM_USER,
} emu_stream_kind;

struct CUstream_st {
    emu_link link;              /* in ctx->streams (not the legacy stream) */
    struct CUctx_st *ctx;
    emu_stream_kind kind;
    unsigned flags;
    int priority;
    pthread_t owner;            /* EMU_STREAM_PER_THREAD */
    uint64_t tail_ns;           /* modelled end of its last operation */
    unsigned long long id;
    CUstreamAttrValue attrs[CU_LAUNCH_ATTRIBUTE_MAX]; /* cuStreamSetAttribute's, kept as given */
    struct emu_graph *capture;  /* the graph its launches are captured into (graph.c), or NULL */
};

struct CUevent_st {
    emu_link link;
    struct CUctx_st *ctx;
    unsigned flags;
    bool recorded;
    uint64_t time_ns;           /* modelled completion of the recorded work */
};

#define EMU_LIMIT_COUNT CU_LIMIT_MAX

struct CUctx_st {
    emu_link link;              /* in the global context list */
    unsigned long long id;      /* never reused: tells a stale thread binding from a new context */
    emu_device *dev;
    unsigned flags;
    bool primary;
    bool active;                /* false: a primary context after reset/last release */
    CUresult sticky;            /* a failed kernel's error, returned by every later call */
    size_t limits[EMU_LIMIT_COUNT];
    CUfunc_cache cache_config;
    CUsharedconfig shared_config;
    struct CUstream_st legacy;
    emu_link streams, events, modules, allocs, host_allocs, arrays, mipmaps;
    struct emu_heap *heap;      /* device malloc's heap (heap.c), made at the first call */
    char *printf_buf;           /* device printf's FIFO (printf.c): [0, printf_flushed) is flushed */
    size_t printf_len, printf_flushed, printf_cap;
};

/* ---- images, modules, libraries ------------------------------------------------------------- */

typedef struct {
    char *name;
    int param_count;            /* -1: the image does not say */
    size_t *param_offsets, *param_sizes;
} emu_image_kernel;

/* A __device__ or __constant__ variable of an image. */
typedef struct {
    char *name;
    size_t size;
    unsigned char *init;        /* its initial bytes; NULL: zeros */
} emu_image_global;

#define EMU_IMAGE_ARCHS 16

/* What a loaded image (fatbin, cubin, PTX) says about its kernels and variables. */
typedef struct {
    emu_image_kernel *kernels;
    size_t count, cap;
    bool opaque;                /* nothing readable (compressed): kernels are looked up by name alone */
    emu_image_global *globals;
    size_t global_count, global_cap;
    /* Device functions the image holds or calls that are not kernels (__assertfail, vprintf): with
     * the kernel's name they tell two programs' same-named kernels apart (registry.c). */
    char **functions;
    size_t function_count, function_cap;
    /* The architectures its fatbin entries were built for (80 for sm_80 and compute_80), each once:
     * a kernel's PTX_VERSION is the one a driver would load on the card (emu_image_arch_for). */
    unsigned archs[EMU_IMAGE_ARCHS];
    unsigned arch_count;
} emu_image;

typedef struct {
    int v[EMU_FUNC_ATTR_COUNT];
} emu_func_attrs;

struct CUmod_st {
    emu_link link;              /* in ctx->modules */
    emu_link lib_link;          /* in lib->modules when it is a library's per-context module */
    struct CUctx_st *ctx;
    struct CUlib_st *lib;       /* NULL for cuModuleLoad* */
    emu_image *image;           /* owned unless lib */
    emu_link functions;
    struct emu_alloc **globals; /* the memory of image->globals[i], this module's own */
};

/* What cuLaunchKernel needs of a CUfunction or CUkernel. */
typedef struct {
    const char *name;
    const gpupool_emu_kernel *impl;   /* NULL: no kernel library implements it */
    const emu_image_kernel *info;     /* NULL when the image could not be read */
    emu_func_attrs *attrs;
    const emu_image *image;           /* the image it was found in, which outlives it */
} emu_entry;

struct CUfunc_st {
    emu_link link;              /* in mod->functions */
    struct CUmod_st *mod;
    struct CUkern_st *kernel;   /* set when it came from cuKernelGetFunction */
    emu_entry entry;
    emu_func_attrs own_attrs;
};

struct CUlib_st {
    emu_link link;              /* in the global library list */
    emu_image image;
    emu_link kernels;
    emu_link modules;           /* per-context modules (cuLibraryGetModule, cuKernelGetFunction) */
};

struct CUkern_st {
    emu_link link;              /* in lib->kernels */
    struct CUlib_st *lib;
    emu_entry entry;
    emu_func_attrs own_attrs;
};

/* ---- global state (driver.c) ---------------------------------------------------------------- */

typedef struct {
    bool initialized;
    int device_count;
    emu_device devices[EMU_MAX_DEVICES];
    uint64_t kernel_ns;                 /* GPUPOOL_EMU_KERNEL_NS */
    double copy_bytes_per_ns;           /* GPUPOOL_EMU_COPY_BYTES_PER_NS */
    uint64_t address_salt;              /* GPUPOOL_EMU_ADDRESS_SALT: shifts the address slots (memory.c) */
    emu_range_map host_allocs;          /* pinned host blocks of every context */
    uint64_t vmm_base;                  /* reserved PROT_NONE range of cuMemAddressReserve (vmm.c) */
    size_t vmm_size;
    emu_range_map reservations, mappings; /* in it */
    emu_link contexts, libraries, pools, physicals;
    unsigned long long next_id;
    gpupool_emu_stats stats;
} emu_state;

extern emu_state emu_g;

void emu_lock(void);
void emu_unlock(void);
/* Unlocks and returns rc: the last step of every locked entry point. Inline so that the compiler
 * sees it returns rc (helpers return "rc == CUDA_SUCCESS ? rc : emu_leave(rc)"). */
static inline CUresult emu_leave(CUresult rc)
{
    emu_unlock();
    return rc;
}
/* Locks; CUDA_ERROR_NOT_INITIALIZED (unlocked again) before a successful cuInit. */
CUresult emu_enter(void);
unsigned long long emu_new_id(void);
/* The CUDA version the driver claims: the fixture's cudaDriverVersion, 13000 by default. Lock NOT
 * needed (works before cuInit). */
int emu_driver_version(void);

/* ---- handles.c ------------------------------------------------------------------------------ */

bool emu_handle_add(const void *handle, emu_handle_kind kind);
void emu_handle_remove(const void *handle);
bool emu_handle_is(const void *handle, emu_handle_kind kind);
void emu_handles_clear(void);

/* ---- device.c / attributes.c ---------------------------------------------------------------- */

CUresult emu_device_get(CUdevice dev, emu_device **out);
/* Locks, checks the out pointer and the device: locked with *device set on success. */
CUresult emu_enter_device(CUdevice dev, const void *out, emu_device **device);
int emu_device_attribute(const emu_device *dev, CUdevice_attribute attr);
bool emu_attribute_valid(int attr);
/* Attribute number of a cuda.h name without its CU_DEVICE_ATTRIBUTE_ prefix; -1 when unknown. */
int emu_attribute_by_name(const char *name);

/* ---- context.c ------------------------------------------------------------------------------ */

/* Lock held. The calling thread's current context, or the error a call needing one returns. */
CUresult emu_current(CUcontext *out);
/* emu_current, then the context's sticky error. */
CUresult emu_current_usable(CUcontext *out);
/* emu_enter + emu_current_usable: locked on success, unlocked on error. */
CUresult emu_enter_ctx(CUcontext *out);
/* Lock held: is ctx a live, active context handle? */
bool emu_ctx_valid(CUcontext ctx);
/* Lock held: CUDA_SUCCESS for a live context; CONTEXT_IS_DESTROYED for a destroyed one or an
 * inactive primary context; INVALID_CONTEXT for anything else. */
CUresult emu_ctx_check(CUcontext ctx);
/* Lock held. The calling thread's current context even when it is an inactive primary context (whose
 * device and flags are still known), for calls that only describe it. */
CUresult emu_current_described(CUcontext *out);
CUresult emu_ctx_create(emu_device *dev, unsigned flags, bool primary, CUcontext *out);
/* Frees everything ctx owns; a primary context is kept (inactive), another one freed. */
void emu_ctx_release_all(CUcontext ctx);
void emu_ctx_push(CUcontext ctx);
bool emu_ctx_flags_valid(unsigned flags);

/* ---- array.c -------------------------------------------------------------------------------- */

/* Lock held: an array used outside the lock (a copy) stays mapped until unpinned. */
void emu_array_pin(struct CUarray_st *a);
void emu_array_unpin(struct CUarray_st *a);

/* ---- texture.c ------------------------------------------------------------------------------ */

/* Lock NOT held. A texel of a texture object of ctx at (x, y, z), each channel as a float; or
 * CUDA_ERROR_ILLEGAL_ADDRESS for an object that is not a texture of ctx. */
int emu_texture_fetch(CUcontext ctx, unsigned long long obj, const float coord[3], float out[4]);
/* The same at a level of detail, integer reads as integers (gpupool_emu_launch.texture_lod). */
int emu_texture_fetch_lod(CUcontext ctx, unsigned long long obj, const float coord[3], float lod, void *out);
/* Lock NOT held. Loads (store false) or stores bytes at (x_bytes, y, z) of a surface object of ctx;
 * CUDA_ERROR_ILLEGAL_ADDRESS out of range or for an object that is not a surface of ctx. */
int emu_surface_access(CUcontext ctx, unsigned long long obj, size_t x_bytes, size_t y, size_t z, void *data, size_t bytes, bool store);
/* Lock held: a texture object of ctx resolved for sampling (gpupool_emu_texture.h), with the array or
 * allocation it reads (the other NULL) for the caller to pin; false for an object that is not one. */
bool emu_texture_view(CUcontext ctx, unsigned long long obj, gpupool_emu_texture_view *v, struct CUarray_st **array,
                      emu_alloc **alloc);
/* Lock held: the context's texture and surface objects go with it. */
void emu_free_ctx_textures(CUcontext ctx);

/* ---- heap.c --------------------------------------------------------------------------------- */

/* Lock held: device malloc in ctx's heap (made at the first call); 0 when it has no room. */
CUdeviceptr emu_heap_alloc(CUcontext ctx, size_t bytes);
/* Lock held: device free; CUDA_ERROR_ILLEGAL_ADDRESS for what is no block of ctx's heap. */
CUresult emu_heap_free(CUcontext ctx, CUdeviceptr ptr);
/* Lock held: whether ctx's heap is made (its size is fixed from then). */
bool emu_heap_made(CUcontext ctx);
/* Lock held: the heap goes with its context. */
void emu_heap_release(CUcontext ctx);

/* ---- printf.c ------------------------------------------------------------------------------- */

/* Lock held. A real driver's flush points call this: the context's printf output leaves its FIFO. */
void emu_printf_flush(CUcontext ctx);
/* Lock held: frees the context's FIFO (flushing it first). */
void emu_printf_release(CUcontext ctx);
/* Lock held: a kernel's printf output, into the context's FIFO. */
void emu_printf_append(CUcontext ctx, const char *text, size_t n);

/* ---- memory.c / rangemap.c ------------------------------------------------------------------ */

emu_alloc *emu_map_find(const emu_range_map *map, uint64_t addr);
bool emu_map_insert(emu_range_map *map, emu_alloc *a);
void emu_map_remove(emu_range_map *map, const emu_alloc *a);
void emu_map_free(emu_range_map *map);
/* Index of the first item starting at or after addr; map->count when there is none. */
size_t emu_map_first_from(const emu_range_map *map, uint64_t addr);
/* Lowest aligned start in [base, base+size) with span free bytes; 0 when there is none. */
uint64_t emu_map_gap(const emu_range_map *map, uint64_t base, size_t size, size_t span, size_t align);

bool emu_reserve_device_space(emu_device *dev);
void emu_release_device_space(emu_device *dev);
/* The device whose address range holds p, or NULL: such a p is never a host pointer. */
emu_device *emu_device_of_address(uint64_t p);
/* Whether p is in a device's range or in the VMM range: never a host pointer either way. */
bool emu_is_device_address(uint64_t p);
/* The live device allocation (any context) holding [p, p+bytes), or NULL: memory of cuMemAlloc*, a
 * pool, or a VMM mapping whose context is alive and whose device was granted access. */
emu_alloc *emu_find_device(uint64_t p, size_t bytes);
/* The pinned host block holding [p, p+bytes), or NULL. */
emu_alloc *emu_find_host(const void *p, size_t bytes);
CUresult emu_alloc_device(CUcontext ctx, size_t bytes, CUdeviceptr *out);
/* The same for a pool allocation (a->pool set by the caller through *out_alloc). */
CUresult emu_alloc_device_kind(CUcontext ctx, size_t bytes, emu_mem_kind kind, emu_alloc **out);
/* cuMemFree: an allocation of cuMemAlloc* or of a pool, by its base. */
CUresult emu_free_device(CUdeviceptr p);
/* Forgets a device, pool or host allocation or a mapping; its memory goes at the last unpin. */
void emu_release_alloc(emu_alloc *a);
/* Memory for a device-side object (arrays, physical memory): an anonymous mapping, or NULL. */
void *emu_map_memory(size_t bytes, size_t *map_bytes);
void emu_unmap_memory(void *host, size_t map_bytes);
/* Whether dev has bytes more free (memoryTotal less memoryReserved less what the process holds). */
bool emu_device_fits(const emu_device *dev, size_t bytes);
CUresult emu_alloc_host(CUcontext ctx, size_t bytes, unsigned flags, void **out);
CUresult emu_free_host(void *p);
/* cuMemHostRegister / cuMemHostUnregister: the caller's memory, recorded as pinned (memory.c). */
CUresult emu_register_host(CUcontext ctx, void *p, size_t bytes, unsigned flags);
CUresult emu_unregister_host(void *p);
void emu_free_ctx_memory(CUcontext ctx);
void emu_pin(emu_alloc *a);
void emu_unpin(emu_alloc *a);
static inline void *emu_host_of(const emu_alloc *a, uint64_t p)
{
    return (char *)a->host + (p - a->start);
}

/* ---- mempool.c / vmm.c / array.c ----------------------------------------------------------- */

/* Lock held. A pool allocation is gone (freed, or its context destroyed): its pool's accounting. */
void emu_pool_note_free(struct CUmemPoolHandle_st *pool, size_t bytes);
void emu_free_pools(void);
bool emu_reserve_vmm_space(void);
void emu_release_vmm_space(void);
/* Lock held: one reference to physical memory less (a mapping gone, or the handle released). */
void emu_phys_unref(emu_phys *phys);
/* Lock held: the context is going; its mappings become unreachable until unmapped. */
void emu_vmm_forget_ctx(CUcontext ctx);
void emu_free_ctx_arrays(CUcontext ctx);

/* ---- timeline.c ----------------------------------------------------------------------------- */

uint64_t emu_now_ns(void);
uint64_t emu_copy_ns(size_t bytes);
/* Lock held. Schedules an operation of duration_ns on s; returns its modelled end. */
uint64_t emu_enqueue(struct CUstream_st *s, uint64_t duration_ns, bool kernel);
/* Lock held. When everything enqueued so far on s (legacy: and what it waits for) is done. */
uint64_t emu_stream_ready_at(const struct CUstream_st *s);
uint64_t emu_ctx_ready_at(const struct CUctx_st *ctx);
/* Lock NOT held. */
void emu_sleep_until(uint64_t t_ns);

/* ---- transfer.c: what copies and memsets share ---------------------------------------------- */

typedef enum {
    EMU_SIDE_HOST,              /* a host pointer: never inside a device address range */
    EMU_SIDE_DEVICE,            /* inside one allocation of the operation's context */
    EMU_SIDE_UNIFIED,           /* whichever of the two the address turns out to be */
} emu_side;

/* Allocations an operation uses outside the lock. */
typedef struct {
    emu_alloc *items[2];
    unsigned count;
} emu_pins;

/* Lock held. The host address behind [addr, addr+bytes) on that side; pins the allocation behind a
 * device-side range. */
CUresult emu_resolve(CUcontext ctx, emu_side side, uint64_t addr, size_t bytes, void **host, emu_pins *pins);
/* Lock held: unpins everything in pins (an operation that failed half-way). */
void emu_unpin_all(emu_pins *pins);
/* Locks and resolves the stream of an operation and its context (the stream's): locked on success.
 * A synchronous operation (async false) goes to the current context's default stream, per_thread
 * choosing which one. */
CUresult emu_begin_op(CUstream hStream, bool async, bool per_thread, CUcontext *ctx, struct CUstream_st **s);

/* ---- graphs (graph.c) --------------------------------------------------------------------------- */

typedef enum { EMU_NODE_LAUNCH = 0, EMU_NODE_MEMSET, EMU_NODE_COPY, EMU_NODE_EMPTY, EMU_NODE_COND } emu_node_kind;

/* A conditional handle: its value, set by kernels (gpupool_emu_launch.set_conditional) and, with
 * CU_GRAPH_COND_ASSIGN_DEFAULT, by each launch of its graph. Counted: the graph and every copy of a
 * conditional node naming it (executable graphs, launches) hold it. */
typedef struct emu_cond {
    unsigned value, dflt, flags;
    CUcontext ctx;
    int refs;
} emu_cond;

/* One captured operation: what it needs to run again; a launch's parameters copied. */
typedef struct {
    const void *f;                 /* CUfunction or CUkernel */
    unsigned grid[3], block[3], shared;
    unsigned char *params;         /* every parameter at its offset */
    size_t bytes;                  /* of params */
    size_t *offsets;
    int count;
    emu_node_kind kind;
    CUdeviceptr dst, src;          /* memset: dst; copy: both, device memory */
    size_t pitch, width, height;   /* memset: elements per row; copy: width is the byte count */
    unsigned value, elem;          /* memset */
    emu_cond *cond;                /* conditional: its handle, type and bodies (run in node order) */
    unsigned cond_type, nbodies;
    struct emu_graph **bodies;
} emu_graph_node;

struct emu_graph {
    CUcontext ctx;
    emu_graph_node *nodes;
    size_t count, cap;
    bool invalid;                  /* an operation that cannot be captured was issued */
    bool registered;               /* a CUgraph handle the program holds (not an executable copy) */
    bool body;                     /* a conditional node's body: freed with that node only */
    emu_cond **conds;              /* the handles made for it (cuGraphConditionalHandleCreate) */
    size_t nconds;
    void **refs;                   /* the CUgraphNode handles of its nodes, by index */
    size_t nrefs;
};

/* graph_cond.c: a graph's conditional handles and node handles released (lock held). */
void emu_graph_release_extras(struct emu_graph *g);
/* A node's conditional parts: bodies freed (unregistering those the program holds), handle released. */
void emu_graph_node_release_cond(emu_graph_node *n);
/* Deep copies of a conditional node's bodies for an executable graph or a launch; false: no memory. */
bool emu_graph_node_copy_cond(emu_graph_node *to, const emu_graph_node *from);
void emu_cond_release(emu_cond *c);
/* Frees a graph's nodes (graph.c). */
void emu_graph_free_nodes(struct emu_graph *g);
/* graph.c: a plain node (empty) appended; copies of nodes appended; one node run (lock not held). */
CUresult emu_graph_push_plain(struct emu_graph *g, emu_graph_node *n);
bool emu_graph_copy_nodes(struct emu_graph *to, const struct emu_graph *from);
CUresult emu_graph_run_node(const emu_graph_node *n, CUstream s, bool per_thread);
/* Runs nodes in order on a stream, conditionals evaluated as they are reached (lock not held). */
CUresult emu_graph_run(const struct emu_graph *g, CUstream stream, bool per_thread);
/* A kernel's "set conditional" (lock not held). */
CUresult emu_cond_set(unsigned long long handle, unsigned value);

/* Records a launch on a capturing stream (lock held); launch.c calls it instead of running. */
CUresult emu_graph_capture_launch(struct emu_graph *g, const void *f, const unsigned grid[3], const unsigned block[3],
                                  unsigned shared, const emu_entry *e, void **argv);
/* Records a device memset, or a copy between device addresses, on a capturing stream (lock held). */
CUresult emu_graph_capture_memset(struct emu_graph *g, unsigned elem, CUdeviceptr dst, size_t pitch, unsigned value, size_t width,
                                  size_t height);
CUresult emu_graph_capture_copy(struct emu_graph *g, CUdeviceptr dst, CUdeviceptr src, size_t bytes);
/* Runs one node on a stream (lock not held): launch.c. */
CUresult emu_launch_node(const emu_graph_node *n, CUstream stream, bool per_thread);
/* Lock NOT held: unpins, then for a synchronous copy sleeps until its modelled end. */
CUresult emu_finish_op(emu_pins *pins, uint64_t end_ns, bool wait);

/* ---- stream.c / event.c --------------------------------------------------------------------- */

void emu_stream_init(struct CUstream_st *s, CUcontext ctx, emu_stream_kind kind, unsigned flags,
                     int priority);
/* Lock held. The stream hStream names, and its context's sticky error: a user stream, or for NULL
 * and the special handles a default stream of the current context (per_thread: NULL means the
 * calling thread's per-thread stream, as in the _ptsz/_ptds entry points). */
CUresult emu_stream_lookup(CUstream hStream, bool per_thread, struct CUstream_st **out);
void emu_free_ctx_streams(CUcontext ctx);
void emu_free_ctx_events(CUcontext ctx);

/* ---- fatbin.c / elf.c / ptx.c --------------------------------------------------------------- */

/* size 0: unknown (cuModuleLoadData, cuLibraryLoadData); the formats carry their own sizes. */
CUresult emu_image_parse(const void *data, size_t size, emu_image *out);
void emu_image_free(emu_image *image);
bool emu_image_add_kernel(emu_image *image, const char *name, size_t name_len);
emu_image_kernel *emu_image_find(const emu_image *image, const char *name);
bool emu_image_set_params(emu_image_kernel *k, int count, const size_t *offsets, const size_t *sizes);
/* Adds a variable once (a fatbin repeats it per architecture); init may be NULL (zeros). */
bool emu_image_add_global(emu_image *image, const char *name, size_t size, const unsigned char *init);
/* Adds a device function that is not a kernel once. */
bool emu_image_add_function(emu_image *image, const char *name);
/* Records an architecture of the image's entries once (beyond EMU_IMAGE_ARCHS, ignored). */
void emu_image_add_arch(emu_image *image, unsigned arch);
/* The architecture a driver loads for a card of compute capability cc (as 10 * major + minor): the
 * newest of the image's that is no newer than the card (a cubin it runs, or PTX it compiles); the
 * card's own when the image does not say. */
int emu_image_arch_for(const emu_image *image, int cc);
/* The device address and size of a module's variable: CUDA_ERROR_NOT_FOUND when it has none so named. */
CUresult emu_module_global(CUmodule mod, const char *name, CUdeviceptr *dptr, size_t *bytes);
/* The same variable's memory, for a kernel's run: NULL when absent. Lock held. */
struct emu_alloc *emu_module_global_alloc(CUmodule mod, const char *name);
bool emu_elf_parse(const unsigned char *elf, size_t size, emu_image *out);
bool emu_ptx_parse(const char *text, size_t size, emu_image *out);
/* Reads a whole file into memory; CUDA_ERROR_FILE_NOT_FOUND when it cannot be read. */
CUresult emu_read_file(const char *path, unsigned char **data, size_t *size);

/* ---- module.c / library.c / function.c ------------------------------------------------------ */

/* Lock held. Fills an entry for name of image: CUDA_ERROR_NOT_FOUND when the image lacks it. */
CUresult emu_entry_lookup(const emu_image *image, const char *name, emu_entry *out);
void emu_func_attrs_init(emu_func_attrs *attrs, const emu_device *dev);
CUresult emu_module_new(CUcontext ctx, emu_image *image, CUlibrary lib, CUmodule *out);
void emu_module_free(CUmodule mod);
void emu_free_ctx_modules(CUcontext ctx);
CUresult emu_module_function(CUmodule mod, const char *name, CUkernel kernel, CUfunction *out);
/* Lock held. The library's module in ctx, created on first use. */
CUresult emu_library_module(CUlibrary lib, CUcontext ctx, CUmodule *out);
void emu_free_libraries(void);
/* The entry of a CUfunction or CUkernel handle, checked against ctx. */
CUresult emu_entry_of(const void *handle, CUcontext ctx, emu_entry *out);
/* Byte offset of each parameter: natural alignment of its size, as the CUDA ABI lays them out. */
CUresult emu_param_layout(const emu_entry *e, size_t index, size_t *offset, size_t *size);
int emu_param_count(const emu_entry *e);
/* Blocks of blockSize threads resident on one multiprocessor at once (the occupancy calculator's answer). */
int emu_active_blocks(const emu_entry *e, const emu_device *dev, int blockSize, size_t dynamicSMem);

/* ---- registry.c ----------------------------------------------------------------------------- */

void emu_registry_load(void);
/* The implementation of kernel `name` of image (NULL: by name alone): one registered as
 * "name@function" for a function the image holds or calls wins over one registered as "name". */
const gpupool_emu_kernel *emu_registry_find(const char *name, const emu_image *image);
void emu_registry_unload(void);

#endif /* GPUPOOL_EMU_INTERNAL_H */
