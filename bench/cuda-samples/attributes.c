/*
 * simpleAttributes' kernel, kernCacheSegmentTest(int *data, int dataSize, int *trash, int bigDataSize,
 * int hitCount). What it computes: each block's threads walk xorshift sequences (seeded by the thread's
 * id) through `data` (even ids) or `trash` (odd ids), adding one element into another, until the
 * block's shared counter reaches hitCount: at least hitCount read-modify-writes per block, 65535 blocks
 * by 0xAFFFF in the sample, about 4.7e10 in all. The writes are unsynchronised across 67 million
 * threads, so the arrays' contents afterwards are a race whose outcome no GPU fixes, and the sample
 * never reads them back: the result it checks is the launch completing without a fault. Every index
 * the walk forms is an element of its array (psRand % size, |tID - psRand| % size). This CPU kernel
 * does not do the walk: it gives only the checked outcome. Both arrays are checked to be the context's memory
 * (a GPU would fault otherwise), sizes and the count checked as the kernel's arithmetic needs them,
 * and the contents are left as they were (docs/compatibility.md names the departure).
 */
#include "kernels.h"

static int cache_segment_test(const gpupool_emu_launch *l, void **params)
{
    int data_size = PARAM(int, params, 1), big_size = PARAM(int, params, 3), hits = PARAM(int, params, 4);
    if (hits <= 0)
        return CUDA_SUCCESS; /* the loop's condition fails at once: nothing is touched */
    /* Even thread ids walk data, odd ones trash: a 1-thread grid touches data alone. */
    if (data_size <= 0 || (grid_threads(l) > 1 && big_size <= 0))
        return CUDA_ERROR_ILLEGAL_ADDRESS; /* x % 0 and negative sizes index outside any array */
    NEED(DEVICE(l, PARAM(CUdeviceptr, params, 0), data_size, sizeof(int)));
    if (grid_threads(l) > 1)
        NEED(DEVICE(l, PARAM(CUdeviceptr, params, 2), big_size, sizeof(int)));
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel attribute_kernels[] = {
    KERNEL("_Z20kernCacheSegmentTestPiiS_ii", cache_segment_test, 8, 4, 8, 4, 4),
};
const unsigned attribute_kernel_count = COUNT(attribute_kernels);
