/*
 * Device-side launches for CPU kernels (docs/emulator.md, "Device-side launches"): the emulator has no
 * device runtime, so a CPU kernel whose CUDA version launches kernels (dynamic parallelism) queues
 * each child grid here, with its shape and parameters by value, and its host launch runs the queue,
 * first in, first out, after its own grid: every grid the host launch led to has run when it returns,
 * as a GPU's parent grid completes only after its children. Header-only: kernel libraries include it.
 */
#ifndef GPUPOOL_EMU_DEVICE_LAUNCH_H
#define GPUPOOL_EMU_DEVICE_LAUNCH_H
#include "gpupool_emu.h"

#include <stdlib.h>
#include <string.h>

struct device_launches;

/* One grid's work: the body of a kernel, given its launch and its parameters by value. */
typedef int (*grid_body)(struct device_launches *q, const gpupool_emu_launch *l, const void *args);

typedef struct {
    grid_body body;
    unsigned grid[3], block[3];
    unsigned shared_bytes;
    unsigned char args[64];
} device_grid;

/* The grids launched from the device during one host launch, run first in, first out. */
typedef struct device_launches {
    device_grid *grids;
    size_t count, cap, next;
} device_launches;

/* A device-side kernel<<<grid, block, shared>>>(args): queued behind the grids already launched. */
static inline int device_launch(device_launches *q, grid_body body, const unsigned grid[3],
                                const unsigned block[3], unsigned shared_bytes, const void *args, size_t bytes)
{
    if (bytes > sizeof q->grids[0].args)
        return CUDA_ERROR_INVALID_VALUE;
    if (q->count == q->cap) {
        size_t cap = q->cap == 0 ? 64 : q->cap * 2;
        device_grid *grown = realloc(q->grids, cap * sizeof *grown);
        if (grown == NULL)
            return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES; /* as a full launch pool fails a device launch */
        q->grids = grown;
        q->cap = cap;
    }
    device_grid *g = &q->grids[q->count++];
    g->body = body;
    memcpy(g->grid, grid, sizeof g->grid);
    memcpy(g->block, block, sizeof g->block);
    g->shared_bytes = shared_bytes;
    memcpy(g->args, args, bytes);
    return CUDA_SUCCESS;
}

/* kernel<<<grid, block>>>(args) in one dimension. */
static inline int device_launch_1d(device_launches *q, grid_body body, unsigned grid, unsigned block,
                                   const void *args, size_t bytes)
{
    return device_launch(q, body, (const unsigned[3]){ grid, 1, 1 }, (const unsigned[3]){ block, 1, 1 }, 0, args, bytes);
}

/*
 * The host's launch: its grid, then every grid launched from the device, each with the host launch's
 * context (memory, globals, printf) and a shape of its own. The first error fails the host launch, as
 * a fault in a child grid fails the launch that led to it.
 */
static inline int run_with_children(const gpupool_emu_launch *l, grid_body body, const void *args)
{
    device_launches q = { 0 };
    int rc = body(&q, l, args);
    while (rc == CUDA_SUCCESS && q.next < q.count) {
        device_grid g = q.grids[q.next++]; /* by value: the body may grow the queue */
        gpupool_emu_launch child = *l;
        memcpy(child.grid, g.grid, sizeof child.grid);
        memcpy(child.block, g.block, sizeof child.block);
        child.shared_bytes = g.shared_bytes;
        rc = g.body(&q, &child, g.args);
    }
    free(q.grids);
    return rc;
}

#endif
