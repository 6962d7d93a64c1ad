/*
 * Device memory: host RAM behind device addresses of a reserved range of their own.
 *
 * Each device reserves an inaccessible (PROT_NONE) address range at init; its allocations get
 * addresses from it, so a device address is never a usable host pointer (dereferencing one crashes,
 * as on a GPU) and no host mapping can ever land on one. The bytes behind an allocation are a
 * separate anonymous mapping: untouched pages cost nothing. Lock held throughout.
 */
/* MAP_ANONYMOUS and MAP_NORESERVE are not POSIX: ask glibc for them. */
#define _DEFAULT_SOURCE
#include "emu.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define EMU_ALLOC_ALIGN 512u                     /* cudaMalloc guarantees 256 */
#define EMU_VA_ALIGN (2u << 20)
#define EMU_VA_FIRST_HINT 0x200000000000ULL      /* far from both the heap and 0x7f... mappings */
#define EMU_VA_SLOT (1ULL << 39)                 /* 512 GiB: room for twice any card's memory */
#define EMU_VA_SLOTS 128u

static uint64_t align_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) / align * align;
}

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

/* ---- address space -------------------------------------------------------------------------- */

/*
 * Where a card's addresses start: a slot chosen by its UUID, so that the cards of two daemons, whose
 * pointers one client holds side by side, do not hand out the same addresses (as two real GPUs in one
 * process do not). FNV-1a over the UUID bytes, moved on by GPUPOOL_EMU_ADDRESS_SALT slots: the daemon
 * gives each session worker its own, so that one card's addresses differ from process to process
 * (a real driver promises no process the addresses of another either) and an address one session was
 * given names nothing in another's.
 */
static uint64_t slot_hint(const emu_device *dev)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 16; i++)
        h = (h ^ dev->uuid[i]) * 1099511628211ULL;
    return EMU_VA_FIRST_HINT + ((h % EMU_VA_SLOTS + emu_g.address_salt % EMU_VA_SLOTS) % EMU_VA_SLOTS) * EMU_VA_SLOT;
}

/* Twice the card's memory: first fit then always finds room for what the memory limit allows. */
bool emu_reserve_device_space(emu_device *dev)
{
    uint64_t hint = slot_hint(dev);
    size_t size = (size_t)align_up(dev->total_mem, EMU_VA_ALIGN) * 2 + EMU_VA_ALIGN;
    void *p = mmap((void *)(uintptr_t)hint, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return false;
    dev->va_base = (uint64_t)(uintptr_t)p;
    dev->va_size = size;
    return true;
}

void emu_release_device_space(emu_device *dev)
{
    if (dev->va_size != 0)
        munmap((void *)(uintptr_t)dev->va_base, dev->va_size);
    dev->va_base = 0;
    dev->va_size = 0;
}

emu_device *emu_device_of_address(uint64_t p)
{
    for (int i = 0; i < emu_g.device_count; i++) {
        emu_device *dev = &emu_g.devices[i];
        if (p - dev->va_base < dev->va_size)
            return dev;
    }
    return NULL;
}

/* ---- look-ups ------------------------------------------------------------------------------- */

static emu_alloc *holding(const emu_range_map *map, uint64_t p, size_t bytes)
{
    emu_alloc *a = emu_map_find(map, p);
    if (a == NULL)
        return NULL;
    uint64_t off = p - a->start;
    return off <= a->bytes && bytes <= a->bytes - off ? a : NULL;
}

bool emu_is_device_address(uint64_t p)
{
    return emu_device_of_address(p) != NULL || p - emu_g.vmm_base < emu_g.vmm_size;
}

emu_alloc *emu_find_device(uint64_t p, size_t bytes)
{
    emu_device *dev = emu_device_of_address(p);
    if (dev != NULL)
        return holding(&dev->allocs, p, bytes);
    if (p - emu_g.vmm_base >= emu_g.vmm_size)
        return NULL;
    /* A mapping is reachable while its context lives, once its card was granted access, and only
     * from a context of that card (peer access is not emulated). */
    emu_alloc *a = holding(&emu_g.mappings, p, bytes);
    return a != NULL && a->ctx != NULL && a->accessible && a->ctx->dev == a->phys->dev ? a : NULL;
}

emu_alloc *emu_find_host(const void *p, size_t bytes)
{
    return holding(&emu_g.host_allocs, (uint64_t)(uintptr_t)p, bytes);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

void *emu_map_memory(size_t bytes, size_t *map_bytes)
{
    *map_bytes = (size_t)align_up(bytes ? bytes : 1, page_size());
    void *p = mmap(NULL, *map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void emu_unmap_memory(void *host, size_t map_bytes)
{
    if (host != NULL)
        munmap(host, map_bytes);
}

bool emu_device_fits(const emu_device *dev, size_t bytes)
{
    /* The limit counts every context of the process on this card, as one GPU's memory would. */
    return bytes <= dev->total_mem - dev->reserved_mem - dev->used_mem;
}

static emu_alloc *new_alloc(CUcontext ctx, size_t bytes)
{
    emu_alloc *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->host = emu_map_memory(bytes, &a->map_bytes);
    if (a->host == NULL) {
        free(a);
        return NULL;
    }
    a->ctx = ctx;
    a->bytes = bytes;
    a->id = emu_new_id();
    emu_list_init(&a->link);
    return a;
}

/* A mapping shares its physical memory's bytes; everything else owns its own. */
static void destroy_alloc(emu_alloc *a)
{
    if (a->phys != NULL)
        emu_phys_unref(a->phys);
    else if (!a->registered)
        emu_unmap_memory(a->host, a->map_bytes);
    free(a);
}

CUresult emu_alloc_device_kind(CUcontext ctx, size_t bytes, emu_mem_kind kind, emu_alloc **out)
{
    emu_device *dev = ctx->dev;
    if (bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (!emu_device_fits(dev, bytes))
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t span = (size_t)align_up(bytes, EMU_ALLOC_ALIGN);
    uint64_t start = emu_map_gap(&dev->allocs, dev->va_base, dev->va_size, span, EMU_ALLOC_ALIGN);
    emu_alloc *a = start != 0 ? new_alloc(ctx, bytes) : NULL;
    if (a == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    a->start = start;
    a->span = span;
    a->kind = kind;
    if (!emu_map_insert(&dev->allocs, a)) {
        destroy_alloc(a);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    emu_list_add(&ctx->allocs, &a->link);
    dev->used_mem += bytes;
    if (kind == EMU_MEM_POOL) {
        emu_g.stats.pool_allocations++;
        emu_g.stats.pool_bytes += bytes;
    } else if (kind == EMU_MEM_DEVICE) {
        emu_g.stats.allocations++;
        emu_g.stats.allocated_bytes += bytes;
    }
    *out = a;
    return CUDA_SUCCESS;
}

CUresult emu_alloc_device(CUcontext ctx, size_t bytes, CUdeviceptr *out)
{
    emu_alloc *a;
    CUresult rc = emu_alloc_device_kind(ctx, bytes, EMU_MEM_DEVICE, &a);
    if (rc == CUDA_SUCCESS)
        *out = (CUdeviceptr)a->start;
    return rc;
}

/* Pinned host memory a (its host and bytes set) recorded at its own address, owned by ctx. */
static CUresult insert_host(CUcontext ctx, emu_alloc *a, unsigned flags)
{
    a->start = (uint64_t)(uintptr_t)a->host;
    a->span = a->bytes;
    a->kind = EMU_MEM_HOST;
    a->host_flags = flags;
    if (!emu_map_insert(&emu_g.host_allocs, a)) {
        CUresult rc = a->registered ? CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED : CUDA_ERROR_OUT_OF_MEMORY;
        destroy_alloc(a);
        return rc;
    }
    emu_list_add(&ctx->host_allocs, &a->link);
    emu_g.stats.host_allocations++;
    emu_g.stats.host_bytes += a->bytes;
    return CUDA_SUCCESS;
}

CUresult emu_alloc_host(CUcontext ctx, size_t bytes, unsigned flags, void **out)
{
    if (bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    emu_alloc *a = new_alloc(ctx, bytes);
    if (a == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = insert_host(ctx, a, flags);
    if (rc == CUDA_SUCCESS)
        *out = a->host;
    return rc;
}

/* Forgets a; the mapping goes now, or at the last unpin when a copy or kernel still uses it. */
void emu_release_alloc(emu_alloc *a)
{
    emu_list_del(&a->link);
    switch (a->kind) {
    case EMU_MEM_DEVICE:
    case EMU_MEM_GLOBAL:
    case EMU_MEM_HEAP:
    case EMU_MEM_POOL: {
        emu_device *dev = a->ctx->dev;
        emu_map_remove(&dev->allocs, a);
        dev->used_mem -= a->bytes;
        if (a->kind == EMU_MEM_POOL) {
            emu_g.stats.pool_allocations--;
            emu_g.stats.pool_bytes -= a->bytes;
            emu_pool_note_free(a->pool, a->bytes);
        } else if (a->kind == EMU_MEM_DEVICE) {
            emu_g.stats.allocations--;
            emu_g.stats.allocated_bytes -= a->bytes;
        }
        break;
    }
    case EMU_MEM_HOST:
        emu_map_remove(&emu_g.host_allocs, a);
        emu_g.stats.host_allocations--;
        emu_g.stats.host_bytes -= a->bytes;
        break;
    case EMU_MEM_MAPPING:
        emu_map_remove(&emu_g.mappings, a);
        emu_g.stats.vmm_mappings--;
        break;
    case EMU_MEM_RESERVATION:
        emu_map_remove(&emu_g.reservations, a);
        emu_g.stats.vmm_reservations--;
        break;
    }
    a->ctx = NULL;
    if (a->pins == 0)
        destroy_alloc(a);
    else
        a->dead = true;
}

CUresult emu_free_device(CUdeviceptr p)
{
    emu_alloc *a = emu_find_device(p, 0);
    if (a == NULL || a->start != p || (a->kind != EMU_MEM_DEVICE && a->kind != EMU_MEM_POOL))
        return CUDA_ERROR_INVALID_VALUE;
    emu_release_alloc(a);
    return CUDA_SUCCESS;
}

CUresult emu_register_host(CUcontext ctx, void *p, size_t bytes, unsigned flags)
{
    if (p == NULL || bytes == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (emu_find_host(p, bytes) != NULL || emu_find_host(p, 0) != NULL)
        return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    emu_alloc *a = calloc(1, sizeof *a);
    if (a == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    a->ctx = ctx;
    a->bytes = bytes;
    a->id = emu_new_id();
    a->host = p;
    a->registered = true;
    emu_list_init(&a->link);
    return insert_host(ctx, a, flags);
}

CUresult emu_unregister_host(void *p)
{
    emu_alloc *a = emu_find_host(p, 0);
    if (a == NULL || a->host != p || !a->registered)
        return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
    emu_release_alloc(a);
    return CUDA_SUCCESS;
}

CUresult emu_free_host(void *p)
{
    emu_alloc *a = emu_find_host(p, 0);
    if (a == NULL || a->host != p || a->registered)
        return CUDA_ERROR_INVALID_VALUE;
    emu_release_alloc(a);
    return CUDA_SUCCESS;
}

void emu_free_ctx_memory(CUcontext ctx)
{
    EMU_FOR_EACH_SAFE (pos, &ctx->allocs)
        emu_release_alloc(EMU_CONTAINER(pos, emu_alloc, link));
    EMU_FOR_EACH_SAFE (pos, &ctx->host_allocs)
        emu_release_alloc(EMU_CONTAINER(pos, emu_alloc, link));
    emu_free_ctx_arrays(ctx);
    emu_vmm_forget_ctx(ctx);
}

void emu_pin(emu_alloc *a)
{
    a->pins++;
}

void emu_unpin(emu_alloc *a)
{
    if (--a->pins == 0 && a->dead)
        destroy_alloc(a);
}
