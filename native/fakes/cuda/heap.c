/*
 * The device heap: malloc and free called from kernels (and the device runtime's cudaMalloc and
 * cudaFree, which take from the same heap). A context's heap is one device allocation of its
 * CU_LIMIT_MALLOC_HEAP_SIZE, made at the first device malloc, as a GPU reserves it at the first
 * launch that needs it; from then the limit cannot change (cuCtxSetLimit: CUDA_ERROR_INVALID_VALUE,
 * as the driver answers). Blocks are handed out first fit; a full heap answers 0 (malloc's NULL).
 * The memory is the context's device memory: kernels reach it through launch->memory, copies too.
 */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#define HEAP_ALIGN 16 /* what device malloc guarantees */

typedef struct {
    size_t off, bytes;
} heap_block;

struct emu_heap {
    emu_alloc *region;
    heap_block *blocks; /* in use, sorted by offset */
    size_t count, cap;
};

/* Lock held: ctx's heap, made now when it has none (NULL: no room for it, or a heap size of 0). */
static struct emu_heap *heap_of(CUcontext ctx)
{
    if (ctx->heap != NULL || ctx->limits[CU_LIMIT_MALLOC_HEAP_SIZE] == 0)
        return ctx->heap;
    struct emu_heap *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    if (emu_alloc_device_kind(ctx, ctx->limits[CU_LIMIT_MALLOC_HEAP_SIZE], EMU_MEM_HEAP, &h->region) != CUDA_SUCCESS) {
        free(h);
        return NULL;
    }
    ctx->heap = h;
    return h;
}

CUdeviceptr emu_heap_alloc(CUcontext ctx, size_t bytes)
{
    struct emu_heap *h = heap_of(ctx);
    if (h == NULL || bytes == 0 || bytes > h->region->bytes)
        return 0;
    size_t want = (bytes + HEAP_ALIGN - 1) & ~(size_t)(HEAP_ALIGN - 1), at = 0, i = 0;
    for (; i < h->count; i++) {
        if (h->blocks[i].off - at >= want)
            break;
        at = h->blocks[i].off + h->blocks[i].bytes;
    }
    if (h->region->bytes - at < want && i == h->count)
        return 0;
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        heap_block *grown = realloc(h->blocks, cap * sizeof *grown);
        if (grown == NULL)
            return 0;
        h->blocks = grown;
        h->cap = cap;
    }
    memmove(&h->blocks[i + 1], &h->blocks[i], (h->count - i) * sizeof *h->blocks);
    h->blocks[i] = (heap_block){ at, want };
    h->count++;
    return (CUdeviceptr)(h->region->start + at);
}

CUresult emu_heap_free(CUcontext ctx, CUdeviceptr ptr)
{
    struct emu_heap *h = ctx->heap;
    if (ptr == 0)
        return CUDA_SUCCESS; /* free(NULL) */
    for (size_t i = 0; h != NULL && i < h->count; i++)
        if (h->region->start + h->blocks[i].off == ptr) {
            memmove(&h->blocks[i], &h->blocks[i + 1], (h->count - i - 1) * sizeof *h->blocks);
            h->count--;
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_ILLEGAL_ADDRESS; /* not a block of the heap: a GPU traps */
}

bool emu_heap_made(CUcontext ctx) { return ctx->heap != NULL; }

void emu_heap_release(CUcontext ctx)
{
    struct emu_heap *h = ctx->heap;
    if (h == NULL)
        return;
    emu_release_alloc(h->region);
    free(h->blocks);
    free(h);
    ctx->heap = NULL;
}
