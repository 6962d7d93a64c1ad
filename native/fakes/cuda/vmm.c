/*
 * Virtual memory management: address ranges (cuMemAddressReserve/Free), physical memory
 * (cuMemCreate/Release), mappings of one into the other (cuMemMap/Unmap) and their access
 * (cuMemSetAccess/GetAccess).
 *
 * Reserved ranges come from one inaccessible (PROT_NONE) range of the process, apart from the cards'
 * own, so an address in it is never a host pointer either. Physical memory is an anonymous mapping
 * counted against its card from cuMemCreate until the handle is released and its last mapping is gone.
 * A mapping is an allocation like any other to copies, memsets and kernels (emu_find_device) once
 * cuMemSetAccess granted its card access, from the context that was current at cuMemMap. Lock held.
 */
#define _DEFAULT_SOURCE
#include "emu.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define EMU_VMM_GRANULARITY ((size_t)2 << 20)
#define EMU_VMM_HINT 0x100000000000ULL          /* below the cards' slots (memory.c) */
#define EMU_VMM_SLOT (1ULL << 39)
#define EMU_VMM_SLOTS 32u

static bool granular(uint64_t v)
{
    return v % EMU_VMM_GRANULARITY == 0;
}

/* ---- the address range ---------------------------------------------------------------------- */

/*
 * Twice every card's memory together, and 256 GiB more: address space is plentiful on a GPU, and
 * programs reserve more than they map. Placed by a hash of the cards' UUIDs and moved on by
 * GPUPOOL_EMU_ADDRESS_SALT, as the cards' own ranges are (memory.c), so that two daemons' emulators a
 * client uses side by side, or two session workers, hand out different addresses.
 */
bool emu_reserve_vmm_space(void)
{
    uint64_t h = 1469598103934665603ULL;
    size_t size = (size_t)256 << 30;
    for (int i = 0; i < emu_g.device_count; i++) {
        const emu_device *dev = &emu_g.devices[i];
        for (int b = 0; b < 16; b++)
            h = (h ^ dev->uuid[b]) * 1099511628211ULL;
        size += (size_t)((dev->total_mem + EMU_VMM_GRANULARITY - 1) / EMU_VMM_GRANULARITY * EMU_VMM_GRANULARITY * 2);
    }
    uint64_t hint = EMU_VMM_HINT + ((h % EMU_VMM_SLOTS + emu_g.address_salt % EMU_VMM_SLOTS) % EMU_VMM_SLOTS) * EMU_VMM_SLOT;
    void *p = mmap((void *)(uintptr_t)hint, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    emu_g.vmm_base = (uint64_t)(uintptr_t)p;
    emu_g.vmm_size = size;
    return true;
}

static void free_phys(emu_phys *phys)
{
    emu_list_del(&phys->link);
    emu_handle_remove(phys);
    phys->dev->used_mem -= phys->bytes;
    emu_g.stats.vmm_allocations--;
    emu_g.stats.vmm_bytes -= phys->bytes;
    emu_unmap_memory(phys->host, phys->map_bytes);
    free(phys);
}

void emu_release_vmm_space(void)
{
    while (emu_g.mappings.count > 0)
        emu_release_alloc(emu_g.mappings.items[emu_g.mappings.count - 1]);
    while (emu_g.reservations.count > 0)
        emu_release_alloc(emu_g.reservations.items[emu_g.reservations.count - 1]);
    EMU_FOR_EACH_SAFE (pos, &emu_g.physicals)
        free_phys(EMU_CONTAINER(pos, emu_phys, link));
    emu_map_free(&emu_g.mappings);
    emu_map_free(&emu_g.reservations);
    if (emu_g.vmm_size != 0)
        munmap((void *)(uintptr_t)emu_g.vmm_base, emu_g.vmm_size);
    emu_g.vmm_base = 0;
    emu_g.vmm_size = 0;
}

static bool in_vmm_space(uint64_t p, size_t size)
{
    return p >= emu_g.vmm_base && p - emu_g.vmm_base <= emu_g.vmm_size && size <= emu_g.vmm_size - (p - emu_g.vmm_base);
}

CUresult CUDAAPI cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                     unsigned long long flags)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    size_t align = alignment > EMU_VMM_GRANULARITY ? alignment : EMU_VMM_GRANULARITY;
    if (ptr == NULL || size == 0 || !granular(size) || flags != 0 || (align & (align - 1)) != 0)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    uint64_t start = 0;
    /* The address asked for, when it is free; else any (it is only a hint, as on the real driver). */
    if (addr != 0 && addr % align == 0 && in_vmm_space(addr, size))
        start = emu_map_gap(&emu_g.reservations, addr, size, size, align);
    if (start == 0 || start != addr)
        start = emu_map_gap(&emu_g.reservations, emu_g.vmm_base, emu_g.vmm_size, size, align);
    emu_alloc *r = start != 0 ? calloc(1, sizeof *r) : NULL;
    if (r == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    emu_list_init(&r->link);
    r->kind = EMU_MEM_RESERVATION;
    r->start = start;
    r->span = r->bytes = size;
    r->id = emu_new_id();
    if (!emu_map_insert(&emu_g.reservations, r)) {
        free(r);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    emu_g.stats.vmm_reservations++;
    *ptr = (CUdeviceptr)start;
    return emu_leave(CUDA_SUCCESS);
}

/* Whether a mapping lies (partly) in [p, p+size). */
static bool any_mapping_in(uint64_t p, size_t size)
{
    if (emu_map_find(&emu_g.mappings, p) != NULL)
        return true;
    size_t i = emu_map_first_from(&emu_g.mappings, p);
    return i < emu_g.mappings.count && emu_g.mappings.items[i]->start - p < size;
}

/* The whole range as reserved; one still mapped is refused (unmap it first). */
CUresult CUDAAPI cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    emu_alloc *r = emu_map_find(&emu_g.reservations, ptr);
    if (r == NULL || r->start != ptr || r->span != size || any_mapping_in(ptr, size))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_release_alloc(r);
    return emu_leave(CUDA_SUCCESS);
}

/* ---- physical memory ------------------------------------------------------------------------ */

static emu_phys *phys_of(CUmemGenericAllocationHandle handle)
{
    emu_phys *phys = (emu_phys *)(uintptr_t)handle;
    return emu_handle_is(phys, EMU_H_PHYS) ? phys : NULL;
}

void emu_phys_unref(emu_phys *phys)
{
    if (--phys->refs == 0)
        free_phys(phys);
}

/* Pinned device memory only; no exportable handle types (none is emulated). */
static CUresult check_prop(const CUmemAllocationProp_v1 *prop, emu_device **dev)
{
    if (prop == NULL || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED || prop->location.type == CU_MEM_LOCATION_TYPE_INVALID)
        return CUDA_ERROR_INVALID_VALUE;
    if (prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE || prop->requestedHandleTypes != CU_MEM_HANDLE_TYPE_NONE)
        return CUDA_ERROR_NOT_SUPPORTED;
    return emu_device_get(prop->location.id, dev) == CUDA_SUCCESS ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUresult CUDAAPI cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                             unsigned long long flags)
{
    emu_device *dev;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (handle == NULL || size == 0 || !granular(size) || flags != 0)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if ((rc = check_prop(prop, &dev)) != CUDA_SUCCESS)
        return emu_leave(rc);
    if (!emu_device_fits(dev, size))
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    emu_phys *phys = calloc(1, sizeof *phys);
    if (phys == NULL || (phys->host = emu_map_memory(size, &phys->map_bytes)) == NULL ||
        !emu_handle_add(phys, EMU_H_PHYS)) {
        if (phys != NULL)
            emu_unmap_memory(phys->host, phys->map_bytes);
        free(phys);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    phys->dev = dev;
    phys->bytes = size;
    phys->refs = 1;
    emu_list_add(&emu_g.physicals, &phys->link);
    dev->used_mem += size;
    emu_g.stats.vmm_allocations++;
    emu_g.stats.vmm_bytes += size;
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)phys;
    return emu_leave(CUDA_SUCCESS);
}

/* The handle is gone at once; the memory when its last mapping is unmapped. */
CUresult CUDAAPI cuMemRelease(CUmemGenericAllocationHandle handle)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    emu_phys *phys = phys_of(handle);
    if (phys == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_handle_remove(phys);
    emu_phys_unref(phys);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                               CUmemAllocationGranularity_flags option)
{
    emu_device *dev;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (granularity == NULL ||
        (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if ((rc = check_prop(prop, &dev)) != CUDA_SUCCESS)
        return emu_leave(rc);
    *granularity = EMU_VMM_GRANULARITY;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    const emu_phys *phys = phys_of(handle);
    if (prop == NULL || phys == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    memset(prop, 0, sizeof *prop);
    prop->type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop->requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
    prop->location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop->location.id = phys->dev->ordinal;
    return emu_leave(CUDA_SUCCESS);
}

/* ---- mappings ------------------------------------------------------------------------------- */

/* Whether [p, p+size) lies inside one reservation. */
static bool reserved(uint64_t p, size_t size)
{
    const emu_alloc *r = emu_map_find(&emu_g.reservations, p);
    return r != NULL && size <= r->span - (p - r->start);
}

/* Needs a current context: the mapping belongs to it (docs/emulator.md). */
CUresult CUDAAPI cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                          unsigned long long flags)
{
    CUcontext ctx;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    emu_phys *phys = phys_of(handle);
    if (flags != 0 || size == 0 || !granular(size) || !granular(offset) || !granular(ptr) || phys == NULL ||
        offset > phys->bytes || size > phys->bytes - offset || !reserved(ptr, size) || any_mapping_in(ptr, size))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_alloc *m = calloc(1, sizeof *m);
    if (m == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    emu_list_init(&m->link);
    m->kind = EMU_MEM_MAPPING;
    m->ctx = ctx;
    m->phys = phys;
    m->start = ptr;
    m->span = m->bytes = size;
    m->host = (char *)phys->host + offset;
    m->id = emu_new_id();
    if (!emu_map_insert(&emu_g.mappings, m)) {
        free(m);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    phys->refs++;
    emu_g.stats.vmm_mappings++;
    return emu_leave(CUDA_SUCCESS);
}

/* The mappings [ptr, ptr+size) is made of: whole mappings, back to back, at least one. */
static bool whole_mappings(uint64_t ptr, size_t size, size_t *first, size_t *count)
{
    size_t i = emu_map_first_from(&emu_g.mappings, ptr), n = 0;
    uint64_t cursor = ptr;
    for (; i + n < emu_g.mappings.count && cursor - ptr < size; n++) {
        const emu_alloc *m = emu_g.mappings.items[i + n];
        if (m->start != cursor || m->span > size - (cursor - ptr))
            return false;
        cursor += m->span;
    }
    *first = i;
    *count = n;
    return n > 0 && cursor - ptr == size;
}

CUresult CUDAAPI cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    size_t first, count;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (size == 0 || !reserved(ptr, size) || !whole_mappings(ptr, size, &first, &count))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    /* Each release shifts the later items down: the next one is always at `first`. */
    while (count-- > 0)
        emu_release_alloc(emu_g.mappings.items[first]);
    return emu_leave(CUDA_SUCCESS);
}

static bool access_flags_valid(CUmemAccess_flags flags)
{
    return flags == CU_MEM_ACCESS_FLAGS_PROT_NONE || flags == CU_MEM_ACCESS_FLAGS_PROT_READ ||
           flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
}

/*
 * Per whole mapping: read-only access is granted as read-write (writes are not refused), and only a
 * mapping's own card counts (peer access is not emulated).
 */
CUresult CUDAAPI cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
    size_t first, n;
    emu_device *dev;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (desc == NULL || count == 0 || size == 0 || !whole_mappings(ptr, size, &first, &n))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    for (size_t i = 0; i < count; i++) {
        if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE || !access_flags_valid(desc[i].flags))
            return emu_leave(CUDA_ERROR_INVALID_VALUE);
        if (emu_device_get(desc[i].location.id, &dev) != CUDA_SUCCESS)
            return emu_leave(CUDA_ERROR_INVALID_DEVICE);
    }
    for (size_t k = first; k < first + n; k++) {
        emu_alloc *m = emu_g.mappings.items[k];
        for (size_t i = 0; i < count; i++)
            if (desc[i].location.id == m->phys->dev->ordinal)
                m->accessible = desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE;
    }
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr)
{
    emu_device *dev;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    const emu_alloc *m = emu_map_find(&emu_g.mappings, ptr);
    if (flags == NULL || location == NULL || m == NULL || location->type != CU_MEM_LOCATION_TYPE_DEVICE)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (emu_device_get(location->id, &dev) != CUDA_SUCCESS)
        return emu_leave(CUDA_ERROR_INVALID_DEVICE);
    *flags = m->accessible && dev == m->phys->dev ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE : CU_MEM_ACCESS_FLAGS_PROT_NONE;
    return emu_leave(CUDA_SUCCESS);
}

void emu_vmm_forget_ctx(CUcontext ctx)
{
    for (size_t i = 0; i < emu_g.mappings.count; i++)
        if (emu_g.mappings.items[i]->ctx == ctx)
            emu_g.mappings.items[i]->ctx = NULL;
}
