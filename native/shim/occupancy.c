/*
 * cuOccupancyMaxPotentialBlockSize: the block size that keeps the most threads of a kernel resident on
 * one multiprocessor. Its callback (dynamic shared memory per block size) is the program's code, so
 * the search runs here: each candidate's occupancy is the daemon's driver's answer
 * (cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags), candidates as the CUDA occupancy calculator
 * walks them, from the largest block down by whole warps. One round trip per candidate, at most
 * 1024 / 32 of them.
 */
#include "call.h"
#include "client.h"
#include "gp_shim_decls.h"
#include "shim.h"

static CUresult potential_block_size(int *minGridSize, int *blockSize, CUfunction func, CUoccupancyB2DSize toSMem,
                                     size_t dynamicSMemSize, int blockSizeLimit, unsigned int flags)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (minGridSize == NULL || blockSize == NULL || func == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = gp_function_of(&func);
    if (rc != CUDA_SUCCESS)
        return rc;
    const gp_device *d = gp_device_get(gp_context_device(gp_tls_context()));
    if (d == NULL)
        return CUDA_ERROR_INVALID_CONTEXT;
    int func_max = 0;
    if ((rc = gp_fwd_cuFuncGetAttribute_v2020(&func_max, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, func)) != CUDA_SUCCESS)
        return rc;
    int warp = d->attributes[CU_DEVICE_ATTRIBUTE_WARP_SIZE] > 0 ? d->attributes[CU_DEVICE_ATTRIBUTE_WARP_SIZE] : 32;
    int per_sm = d->attributes[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR];
    int max_block = d->attributes[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
    if (func_max < max_block)
        max_block = func_max;
    if (blockSizeLimit > 0 && blockSizeLimit < max_block)
        max_block = blockSizeLimit;
    int best_threads = 0, best_size = 0, best_blocks = 0;
    for (int size = max_block; size > 0; size -= size % warp ? size % warp : warp) {
        size_t smem = toSMem != NULL ? toSMem(size) : dynamicSMemSize;
        int blocks = 0;
        rc = gp_fwd_cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags_v7000(&blocks, func, size, smem, flags);
        if (rc != CUDA_SUCCESS)
            return rc;
        if (blocks * size > best_threads) {
            best_threads = blocks * size;
            best_size = size;
            best_blocks = blocks;
        }
        if (best_threads >= per_sm)
            break; /* no smaller block can do better than a full multiprocessor */
    }
    *blockSize = best_size;
    *minGridSize = best_blocks * d->attributes[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
    return CUDA_SUCCESS;
}

CUresult gp_local_cuOccupancyMaxPotentialBlockSize_v6050(int *minGridSize, int *blockSize, CUfunction func,
                                                         CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                         size_t dynamicSMemSize, int blockSizeLimit)
{
    return potential_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit,
                                CU_OCCUPANCY_DEFAULT);
}

CUresult gp_local_cuOccupancyMaxPotentialBlockSizeWithFlags_v7000(int *minGridSize, int *blockSize, CUfunction func,
                                                                  CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                                  size_t dynamicSMemSize, int blockSizeLimit,
                                                                  unsigned int flags)
{
    return potential_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit,
                                flags);
}
