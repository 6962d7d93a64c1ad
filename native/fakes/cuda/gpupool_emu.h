/*
 * The CPU-implementation ABI of the emulated CUDA driver (docs/emulator.md).
 *
 * A kernel library is a shared object named in GPUPOOL_EMU_KERNELS (colon-separated). It exports
 * gpupool_emu_kernels(), which describes the kernels it implements; the emulated libcuda.so.1 runs
 * them on the CPU when a module or library naming them is launched. gpupoolEmuStats() is exported by
 * the emulator itself (it is not a CUDA symbol): it counts what is live in the process.
 *
 * Needs cuda.h (CUdeviceptr, CUresult): build with -I<CUDA toolkit>/include.
 */
#ifndef GPUPOOL_EMU_H
#define GPUPOOL_EMU_H

#include <stddef.h>

#include <cuda.h>

#include "gpupool_emu_texture.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GPUPOOL_EMU_EXPORT __attribute__((visibility("default")))
#else
#define GPUPOOL_EMU_EXPORT
#endif

typedef struct gpupool_emu_launch {
    unsigned grid[3], block[3];
    unsigned shared_bytes;
    /* The host memory behind [ptr, ptr+bytes) of this context, or NULL when the range is not
     * inside one of its allocations: the kernel must then return CUDA_ERROR_ILLEGAL_ADDRESS. */
    void *(*memory)(const struct gpupool_emu_launch *launch, CUdeviceptr ptr, size_t bytes);
    void *internal;
    /* The launch's modelled device time: the kernel's device_ns on entry; a kernel whose duration
     * depends on its arguments may set it (a spin kernel told how long to take). */
    unsigned long long device_ns;
    /* The host memory of a __device__ or __constant__ variable of the launched kernel's module, its
     * size in *bytes (when bytes is not NULL), or NULL when the module has no variable so named. */
    void *(*global)(const struct gpupool_emu_launch *launch, const char *name, size_t *bytes);
    /* Device printf: formats as printf does into the launch's context's printf FIFO, which leaves at
     * the driver's flush points (docs/emulator.md). Returns the characters formatted, or -1. */
    int (*printf)(const struct gpupool_emu_launch *launch, const char *format, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;
    /* A texel of a texture object (cudaTextureObject_t) at (x, y, z) as the texture's filter, address
     * modes, normalised coordinates and read mode give it, each channel as a float in texel[0..3]
     * (the unused ones 0): tex1D/tex2D/tex3D (a layered texture: z is the layer; a cubemap: (x, y, z) is
     * the direction). One call per texel: texture_view below is the fast way. CUDA_SUCCESS, or
     * CUDA_ERROR_ILLEGAL_ADDRESS for an object that is no texture of the launch's context (return it
     * from the kernel). */
    int (*texture)(const struct gpupool_emu_launch *launch, unsigned long long tex, float x, float y, float z, float texel[4]);
    /* A surface object's bytes at (x in bytes, y, z): stored from data (store 1: surf*Dwrite) or loaded
     * into it (surf*Dread). Out of range: CUDA_ERROR_ILLEGAL_ADDRESS, as a surface traps. */
    int (*surface)(const struct gpupool_emu_launch *launch, unsigned long long surf, size_t x_bytes, size_t y, size_t z, void *data,
                   size_t bytes, int store);
    /* A texel at (x, y, z) and level of detail lod (tex2DLod; a texture that is no mipmapped array
     * ignores lod), as the kernel's tex<T> gets it: four channels of 4 bytes each, unsigned or int for
     * a 32-bit integer format or an 8- or 16-bit one read as integers (exact, as a float could not
     * hold them), else float, as `texture` gives them. */
    int (*texture_lod)(const struct gpupool_emu_launch *launch, unsigned long long tex, float x, float y, float z, float lod,
                       void *texel);
    /* A texture object resolved once for the launch, to sample with the inline fetches of
     * gpupool_emu_texture.h (gpupool_emu_tex, _layered, _cubemap...) instead of one call per texel:
     * the resource stays mapped until the kernel returns. CUDA_SUCCESS, or CUDA_ERROR_ILLEGAL_ADDRESS
     * for an object that is no texture of the launch's context. */
    int (*texture_view)(const struct gpupool_emu_launch *launch, unsigned long long tex, gpupool_emu_texture_view *view);
    /* cudaGraphSetConditional: the conditional handle (a kernel parameter) takes value, which the
     * conditional node after this kernel in its graph reads. CUDA_SUCCESS, or CUDA_ERROR_INVALID_VALUE
     * for a value that is no live handle. */
    int (*set_conditional)(const struct gpupool_emu_launch *launch, unsigned long long handle, unsigned value);
    /* Device malloc (and the device runtime's cudaMalloc): bytes of the context's device heap
     * (CU_LIMIT_MALLOC_HEAP_SIZE, made at the first call), aligned to 16, as a device address to
     * reach through `memory`; 0 when the heap has no room, as malloc answers NULL. */
    CUdeviceptr (*heap_alloc)(const struct gpupool_emu_launch *launch, size_t bytes);
    /* Device free (and cudaFree) of what heap_alloc gave; 0 is nothing. CUDA_SUCCESS, or
     * CUDA_ERROR_ILLEGAL_ADDRESS for an address that is no block of the heap (return it). */
    int (*heap_free)(const struct gpupool_emu_launch *launch, CUdeviceptr ptr);
} gpupool_emu_launch;

typedef struct gpupool_emu_kernel {
    const char *name;              /* mangled name, as cuLibraryGetKernel is asked for it */
    unsigned param_count;
    const size_t *param_sizes;     /* bytes of each parameter, in order */
    unsigned long long device_ns;  /* modelled device time of one launch; 0: GPUPOOL_EMU_KERNEL_NS */
    /* Runs the whole grid; returns CUDA_SUCCESS or the error the launch fails with. */
    int (*run)(const gpupool_emu_launch *launch, void **params);
} gpupool_emu_kernel;

/* What a kernel library exports: its kernels, *count of them. The array must stay valid while the
 * library is loaded (the emulator never unloads it before the process exits). */
GPUPOOL_EMU_EXPORT const gpupool_emu_kernel *gpupool_emu_kernels(unsigned *count);

/* What is live in the process now (kernels_launched: since the process started). Fields are only
 * ever appended. */
typedef struct gpupool_emu_stats {
    unsigned long long contexts;          /* created contexts, plus active primary contexts */
    unsigned long long allocations;       /* device allocations (cuMemAlloc, cuMemAllocPitch) */
    unsigned long long allocated_bytes;   /* their bytes, as requested */
    unsigned long long host_allocations;  /* pinned host blocks (cuMemAllocHost, cuMemHostAlloc) */
    unsigned long long host_bytes;        /* their bytes, as requested */
    unsigned long long modules;           /* cuModuleLoad* modules */
    unsigned long long libraries;         /* cuLibraryLoad* libraries */
    unsigned long long streams;           /* cuStreamCreate* streams (not the default streams) */
    unsigned long long events;            /* cuEventCreate events */
    unsigned long long kernels_launched;  /* launches that ran a kernel, failed ones included */
    unsigned long long arrays;            /* cuArrayCreate, cuArray3DCreate arrays */
    unsigned long long mipmapped_arrays;  /* cuMipmappedArrayCreate arrays */
    unsigned long long array_bytes;       /* the memory of both (a mipmapped array's levels summed) */
    unsigned long long mem_pools;         /* cuMemPoolCreate pools (not the cards' default pools) */
    unsigned long long pool_allocations;  /* cuMemAllocAsync, cuMemAllocFromPoolAsync allocations */
    unsigned long long pool_bytes;        /* their bytes, as requested */
    unsigned long long pool_cached_bytes; /* freed into pools and kept there (release threshold) */
    unsigned long long vmm_allocations;   /* cuMemCreate memory not yet freed */
    unsigned long long vmm_bytes;         /* its bytes */
    unsigned long long vmm_reservations;  /* cuMemAddressReserve ranges */
    unsigned long long vmm_mappings;      /* cuMemMap mappings */
    unsigned long long noop_kernels;      /* 1 when GPUPOOL_EMU_NOOP_KERNELS is on (docs/emulator.md) */
    unsigned long long noop_launches;     /* launches run as timed no-ops in that mode */
} gpupool_emu_stats;

/* Fills *out; CUDA_ERROR_INVALID_VALUE when out is NULL. Works before cuInit (all zero). */
GPUPOOL_EMU_EXPORT CUresult gpupoolEmuStats(gpupool_emu_stats *out);

/*
 * The same counters as (name, value) pairs, for a reader that must not depend on this header (the
 * daemon's addon finds the entry point with dlsym and knows no struct layout): fills up to `max`
 * pairs and returns how many there are in all. Names are camelCase (`allocatedBytes`); the one flag,
 * `noopKernels`, is 0 or 1.
 */
GPUPOOL_EMU_EXPORT unsigned gpupoolEmuCounters(const char **names, unsigned long long *values, unsigned max);
/* Device printf taken over by a daemon: from this call on, flushed printf output stays with its
 * context instead of going to stdout, until gpupoolEmuPrintfTake hands it out. */
GPUPOOL_EMU_EXPORT void gpupoolEmuPrintfCapture(void);
/* Moves up to cap bytes of ctx's flushed printf output into buf; returns how many (0: none). */
GPUPOOL_EMU_EXPORT size_t gpupoolEmuPrintfTake(CUcontext ctx, void *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* GPUPOOL_EMU_H */
