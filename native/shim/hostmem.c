/*
 * Pinned host memory is memory of the client's own machine: it never travels. Pages are page-aligned
 * so that a later zero-copy path could hand them to the kernel as they are. The client keeps a record
 * of its pinned and registered blocks, with their flags, since frameworks ask about such memory after
 * they pin it (cuMemHostGetFlags, cuPointerGetAttribute(s): native/shim/pointer.c).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "call.h"
#include "gp_shim_decls.h"
#include "hostmem.h"
#include "shim.h"
#include "shm.h"

typedef struct {
    uintptr_t base;
    size_t size;
    unsigned flags;
    int registered; /* the caller's memory (cuMemHostRegister), not ours to free */
} host_block;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static host_block *g_blocks;
static size_t g_count, g_cap;

static int note_block(void *p, size_t size, unsigned flags, int registered)
{
    pthread_mutex_lock(&g_lock);
    if (g_count == g_cap) {
        size_t cap = g_cap ? g_cap * 2 : 64;
        host_block *grown = realloc(g_blocks, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&g_lock);
            return 0;
        }
        g_blocks = grown;
        g_cap = cap;
    }
    g_blocks[g_count++] = (host_block){ (uintptr_t)p, size ? size : 1, flags, registered };
    pthread_mutex_unlock(&g_lock);
    return 1;
}

/* Removes the block starting at p; returns whether there was one (of that kind). */
static int forget_block(void *p, int registered)
{
    int found = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_count; i++) {
        if (g_blocks[i].base == (uintptr_t)p && g_blocks[i].registered == registered) {
            g_blocks[i] = g_blocks[--g_count];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

int gp_host_block(const void *p, void **base, size_t *size, unsigned *flags)
{
    int found = 0;
    uintptr_t a = (uintptr_t)p;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_count; i++) {
        if (a >= g_blocks[i].base && a - g_blocks[i].base < g_blocks[i].size) {
            if (base)
                *base = (void *)g_blocks[i].base;
            if (size)
                *size = g_blocks[i].size;
            if (flags)
                *flags = g_blocks[i].flags;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

static CUresult host_alloc(void **pp, size_t bytesize, unsigned flags)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (pp == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    /* With a daemon on this host, in memory it maps too: copies from it move no byte here (shm.c). */
    int shared = gp_shm_host_alloc(pp, bytesize);
    if (!shared && posix_memalign(pp, 4096, bytesize ? bytesize : 1) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (!note_block(*pp, bytesize, flags, 0)) {
        if (!shared || !gp_shm_host_free(*pp))
            free(*pp);
        *pp = NULL;
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

CUresult gp_local_cuMemAllocHost_v3020(void **pp, size_t bytesize) { return host_alloc(pp, bytesize, 0); }

/* Portable/mapped/write-combined change nothing for memory that stays on this host; they are kept
 * for cuMemHostGetFlags. */
CUresult gp_local_cuMemHostAlloc_v2020(void **pp, size_t bytesize, unsigned int Flags)
{
    return host_alloc(pp, bytesize, Flags);
}

CUresult gp_local_cuMemFreeHost_v2000(void *p)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (p != NULL && !forget_block(p, 0))
        return CUDA_ERROR_INVALID_VALUE;
    if (p != NULL && !gp_shm_host_free(p))
        free(p);
    return CUDA_SUCCESS;
}

CUresult gp_local_cuMemHostGetFlags_v2030(unsigned int *pFlags, void *p)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (pFlags == NULL || !gp_host_block(p, NULL, NULL, pFlags))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

/* A remote device cannot map this machine's memory: CAN_MAP_HOST_MEMORY is 0 (devices.c). */
CUresult gp_local_cuMemHostGetDevicePointer_v3020(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
    (void)pdptr, (void)p, (void)Flags;
    gp_not_carried_once("cuMemHostGetDevicePointer_v2");
    return CUDA_ERROR_NOT_SUPPORTED;
}

/*
 * Registered memory is the host memory it is (DeepSpeed and others register their buffers): copies
 * from it travel like any host memory. Recorded so that pointer queries know it.
 */
CUresult gp_local_cuMemHostRegister_v6050(void *p, size_t bytesize, unsigned int Flags)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (p == NULL || bytesize == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (gp_host_block(p, NULL, NULL, NULL))
        return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    return note_block(p, bytesize, Flags, 1) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult gp_local_cuMemHostUnregister_v4000(void *p)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    return forget_block(p, 1) ? CUDA_SUCCESS : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

/*
 * Managed memory is host memory too, at its device address: a card on another machine cannot provide
 * it. Said once, with the way out, since frameworks fall back to other allocators on this error.
 */
CUresult gp_local_cuMemAllocManaged_v6000(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    static int said;
    (void)dptr, (void)bytesize, (void)flags;
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "gpupool: cuMemAllocManaged is not supported: managed memory must be addressable by this host, "
                        "and the card is on the daemon's; it returned CUDA_ERROR_NOT_SUPPORTED (allocate device memory "
                        "and copy instead)\n");
    return CUDA_ERROR_NOT_SUPPORTED;
}
