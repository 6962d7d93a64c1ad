/* CUfunction / CUkernel queries: attributes, parameter layout, names. */
#include "emu.h"

CUresult emu_entry_of(const void *handle, CUcontext ctx, emu_entry *out)
{
    if (emu_handle_is(handle, EMU_H_FUNCTION)) {
        const struct CUfunc_st *f = handle;
        if (f->mod->ctx != ctx)
            return CUDA_ERROR_INVALID_HANDLE;
        *out = f->entry;
        return CUDA_SUCCESS;
    }
    if (emu_handle_is(handle, EMU_H_KERNEL)) {
        *out = ((const struct CUkern_st *)handle)->entry;
        return CUDA_SUCCESS;
    }
    return CUDA_ERROR_INVALID_HANDLE;
}

int emu_param_count(const emu_entry *e)
{
    if (e->impl != NULL)
        return (int)e->impl->param_count;
    return e->info != NULL ? e->info->param_count : -1;
}

/* Largest power of two dividing size, at most 16 (float4, double2): the CUDA ABI's alignment. */
static size_t natural_alignment(size_t size)
{
    size_t align = size & (~size + 1);
    if (align == 0)
        return 1;
    return align > 16 ? 16 : align;
}

CUresult emu_param_layout(const emu_entry *e, size_t index, size_t *offset, size_t *size)
{
    int count = emu_param_count(e);
    if (count < 0)
        return CUDA_ERROR_NOT_SUPPORTED; /* neither a kernel library nor the image says */
    if (index >= (size_t)count)
        return CUDA_ERROR_INVALID_VALUE;
    if (e->impl == NULL) {
        *offset = e->info->param_offsets[index];
        *size = e->info->param_sizes[index];
        return CUDA_SUCCESS;
    }
    size_t end = 0;
    for (size_t i = 0; i <= index; i++) {
        size_t sz = e->impl->param_sizes[i], align = natural_alignment(sz);
        *offset = (end + align - 1) / align * align;
        *size = sz;
        end = *offset + sz;
    }
    return CUDA_SUCCESS;
}

/* Locked with the entry of a CUfunction (its context usable) or CUkernel on success. */
static CUresult enter_entry(const void *handle, bool function, emu_entry *out, const emu_device **dev)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(handle, function ? EMU_H_FUNCTION : EMU_H_KERNEL))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    if (function) {
        const struct CUfunc_st *f = handle;
        *out = f->entry;
        *dev = f->mod->ctx->dev;
        rc = f->mod->ctx->sticky;
        return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
    }
    *out = ((const struct CUkern_st *)handle)->entry;
    *dev = NULL;
    return CUDA_SUCCESS;
}

/* ---- parameters and names ------------------------------------------------------------------- */

static CUresult param_info(const void *handle, bool function, size_t index, size_t *offset, size_t *size)
{
    emu_entry e;
    const emu_device *dev;
    size_t o, s;
    if (offset == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(handle, function, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_param_layout(&e, index, &o, &s);
    if (rc == CUDA_SUCCESS) {
        *offset = o;
        if (size != NULL)
            *size = s;
    }
    return emu_leave(rc);
}

CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize)
{
    return param_info(func, true, paramIndex, paramOffset, paramSize);
}

CUresult CUDAAPI cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize)
{
    return param_info(kernel, false, paramIndex, paramOffset, paramSize);
}

/* The name stays valid as long as the function or kernel does. */
static CUresult get_name(const void *handle, bool function, const char **name)
{
    emu_entry e;
    const emu_device *dev;
    if (name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(handle, function, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    *name = e.name;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuFuncGetName(const char **name, CUfunction hfunc)
{
    return get_name(hfunc, true, name);
}

CUresult CUDAAPI cuKernelGetName(const char **name, CUkernel hfunc)
{
    return get_name(hfunc, false, name);
}

CUresult CUDAAPI cuFuncGetModule(CUmodule *hmod, CUfunction hfunc)
{
    emu_entry e;
    const emu_device *dev;
    if (hmod == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(hfunc, true, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    *hmod = hfunc->mod;
    return emu_leave(CUDA_SUCCESS);
}

/* Nothing is ever loaded lazily here: a function is usable as soon as it exists. */
CUresult CUDAAPI cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction function)
{
    emu_entry e;
    const emu_device *dev;
    if (state == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(function, true, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    *state = CU_FUNCTION_LOADING_STATE_LOADED;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuFuncLoad(CUfunction function)
{
    emu_entry e;
    const emu_device *dev;
    CUresult rc = enter_entry(function, true, &e, &dev);
    return rc != CUDA_SUCCESS ? rc : emu_leave(CUDA_SUCCESS);
}

/* ---- attributes ----------------------------------------------------------------------------- */

static int attribute(const emu_entry *e, const emu_device *dev, CUfunction_attribute attr)
{
    /* A card newer than every entry runs the image's newest compiled for it: a program built for sm_80
     * sees 80 on a 9.0 card, as CUB, which picks its tuning by PTX_VERSION, relies on; the binary is
     * the card's own (a driver compiles the PTX for it). */
    if (attr == CU_FUNC_ATTRIBUTE_PTX_VERSION)
        return emu_image_arch_for(e->image, dev->cc_major * 10 + dev->cc_minor);
    if (attr == CU_FUNC_ATTRIBUTE_BINARY_VERSION)
        return dev->cc_major * 10 + dev->cc_minor;
    return e->attrs->v[attr];
}

/* Which attributes a program may set, and the range each accepts. */
static CUresult check_setting(const emu_device *dev, CUfunction_attribute attr, int value)
{
    switch (attr) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        return value >= 0 && value <= emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
                   ? CUDA_SUCCESS
                   : CUDA_ERROR_INVALID_VALUE;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        return value >= -1 && value <= 100 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        return value >= 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

static bool attr_valid(CUfunction_attribute attr)
{
    return (unsigned)attr < EMU_FUNC_ATTR_COUNT;
}

CUresult CUDAAPI cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
    emu_entry e;
    const emu_device *dev;
    if (pi == NULL || !attr_valid(attrib))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(hfunc, true, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pi = attribute(&e, dev, attrib);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
    emu_entry e;
    const emu_device *dev;
    if (!attr_valid(attrib))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(hfunc, true, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = check_setting(dev, attrib, value);
    if (rc == CUDA_SUCCESS)
        e.attrs->v[attrib] = value;
    return emu_leave(rc);
}

/* Locked with the kernel's entry and the device named on success. */
static CUresult enter_kernel_on(CUkernel kernel, CUdevice dev, emu_entry *e, emu_device **device)
{
    const emu_device *none;
    CUresult rc = enter_entry(kernel, false, e, &none);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_device_get(dev, device);
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

CUresult CUDAAPI cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
    emu_entry e;
    emu_device *device;
    if (pi == NULL || !attr_valid(attrib))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_kernel_on(kernel, dev, &e, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pi = attribute(&e, device, attrib);
    return emu_leave(CUDA_SUCCESS);
}

/* One setting per kernel: it applies on every device (they are all alike enough here). */
CUresult CUDAAPI cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
    emu_entry e;
    emu_device *device;
    if (!attr_valid(attrib))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_kernel_on(kernel, dev, &e, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = check_setting(device, attrib, val);
    if (rc == CUDA_SUCCESS)
        e.attrs->v[attrib] = val;
    return emu_leave(rc);
}

/* A function's hint that has no effect on the model: accepted when valid, for a valid function. */
static CUresult accept_hint(CUfunction hfunc, bool valid)
{
    emu_entry e;
    const emu_device *dev;
    if (!valid)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(hfunc, true, &e, &dev);
    return rc != CUDA_SUCCESS ? rc : emu_leave(CUDA_SUCCESS);
}

/* Cache preferences. */
CUresult CUDAAPI cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
    return accept_hint(hfunc, (unsigned)config <= CU_FUNC_CACHE_PREFER_EQUAL);
}

/* Shared-memory bank sizes (devices since sm_50 have one bank size). */
CUresult CUDAAPI cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig config)
{
    return accept_hint(hfunc, (unsigned)config <= CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE);
}

CUresult CUDAAPI cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
    emu_entry e;
    emu_device *device;
    if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_kernel_on(kernel, dev, &e, &device);
    return rc != CUDA_SUCCESS ? rc : emu_leave(CUDA_SUCCESS);
}

/* ---- occupancy ------------------------------------------------------------------------------ */

/*
 * Blocks of blockSize threads resident on one multiprocessor at once: the least of the per-SM block
 * limit, its threads (whole warps), its registers and its shared memory, as the occupancy calculator
 * counts them (without allocation granularities: the emulator has no register file to round to).
 */
int emu_active_blocks(const emu_entry *e, const emu_device *dev, int blockSize, size_t dynamicSMem)
{
    int warp = emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
    long long warps = (blockSize + warp - 1) / warp;
    long long threads = warps * warp;
    long long blocks = emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR);
    long long by_threads = emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR) / threads;
    if (by_threads < blocks)
        blocks = by_threads;
    long long regs = (long long)e->attrs->v[CU_FUNC_ATTRIBUTE_NUM_REGS] * threads;
    if (regs > 0 && emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR) / regs < blocks)
        blocks = emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR) / regs;
    long long shared = (long long)e->attrs->v[CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES] + (long long)dynamicSMem;
    if (shared > 0 && emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR) / shared < blocks)
        blocks = emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR) / shared;
    return (int)blocks;
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func, int blockSize,
                                                                       size_t dynamicSMemSize, unsigned int flags)
{
    emu_entry e;
    const emu_device *dev;
    if (numBlocks == NULL || flags > CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_entry(func, true, &e, &dev);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (blockSize <= 0 || blockSize > e.attrs->v[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK] ||
        dynamicSMemSize > (size_t)e.attrs->v[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES]) {
        *numBlocks = 0;
        return emu_leave(CUDA_SUCCESS);
    }
    *numBlocks = emu_active_blocks(&e, dev, blockSize, dynamicSMemSize);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                              size_t dynamicSMemSize)
{
    return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize, dynamicSMemSize,
                                                                CU_OCCUPANCY_DEFAULT);
}
