/*
 * CPU kernels of 5_Domain_Specific/p2pBandwidthLatencyTest, which `run.js --pool` runs with --gpus all
 * across two daemons.
 */
#include "kernels.h"

#include <string.h>

/*
 * delay(volatile int *flag, unsigned long long timeout_clocks): holds its stream until the host sets a
 * flag in pinned host memory, or a timeout passes. The flag is host memory the emulated card cannot
 * read, and the kernel's only effect is to hold the stream for a bounded time, so it ends at once (its
 * timeout reached): the copies queued behind it then run in the same order.
 */
static int delay(const gpupool_emu_launch *l, void **params)
{
    (void)l;
    (void)params;
    return CUDA_SUCCESS;
}

/* copyp2p(int4 *dest, const int4 *src, size_t num_elems): a grid-stride copy of 16-byte elements. */
static int copyp2p(const gpupool_emu_launch *l, void **params)
{
    size_t n = PARAM(size_t, params, 2);
    if (n == 0 || grid_threads(l) == 0)
        return CUDA_SUCCESS;
    void *dest = DEVICE(l, PARAM(CUdeviceptr, params, 0), (long long)n, 16);
    const void *src = DEVICE(l, PARAM(CUdeviceptr, params, 1), (long long)n, 16);
    NEED(dest);
    NEED(src);
    memmove(dest, src, n * 16);
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel p2p_kernels[] = {
    KERNEL("_Z5delayPViy", delay, 8, 8),
    KERNEL("_Z7copyp2pP4int4PKS_m", copyp2p, 8, 8, 8),
};
const unsigned p2p_kernel_count = COUNT(p2p_kernels);
