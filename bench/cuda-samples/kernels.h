/*
 * What the CPU kernels of the cuda-samples (kernels.c, introduction.c, mergesort.c, concepts.c,
 * features.c, gemm.c, textures.c, dct8x8.c, eigenvalues.c) share:
 * reading parameters, reaching device memory, and each file's table of kernels, gathered by
 * gpupool_emu_kernels() in kernels.c (docs/emulator.md, "Kernels: the CPU-implementation ABI").
 */
#ifndef SAMPLE_KERNELS_H
#define SAMPLE_KERNELS_H
#include "gpupool_emu.h"

#include <stddef.h>

#define COUNT(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

/* Parameter i as a T (kernel parameters arrive as pointers to their values). */
#define PARAM(T, params, i) (*(const T *)(params)[i])

/* A kernel's table entry: its nvcc name, the byte sizes of its parameters, its function. */
#define KERNEL(name, run, ...)                                                                  \
    { name, (unsigned)(sizeof((const size_t[]){ __VA_ARGS__ }) / sizeof(size_t)),              \
      (const size_t[]){ __VA_ARGS__ }, 0, run }

/* The same for a kernel that takes no parameters. */
#define KERNEL0(name, run) { name, 0, NULL, 0, run }

/* The host memory of `count` elements of `size` bytes at device address p, or NULL (kernels then fail
 * with CUDA_ERROR_ILLEGAL_ADDRESS, as a GPU's out-of-range access would). */
#define DEVICE(l, p, count, size) ((count) <= 0 ? NULL : (l)->memory((l), (p), (size_t)(count) * (size)))

/* Fail the launch as a GPU would when a pointer does not name the context's memory. */
#define NEED(ptr)                                                                                  \
    do {                                                                                           \
        if ((ptr) == NULL)                                                                         \
            return CUDA_ERROR_ILLEGAL_ADDRESS;                                                     \
    } while (0)

static inline size_t grid_threads(const gpupool_emu_launch *l)
{
    return (size_t)l->grid[0] * l->block[0] * l->grid[1] * l->block[1] * l->grid[2] * l->block[2];
}

static inline size_t block_threads(const gpupool_emu_launch *l)
{
    return (size_t)l->block[0] * l->block[1] * l->block[2];
}

static inline size_t grid_blocks(const gpupool_emu_launch *l)
{
    return (size_t)l->grid[0] * l->grid[1] * l->grid[2];
}

/*
 * The block reduction the samples' reduce kernels share (threadFenceReduction's reduceBlock,
 * simpleCudaGraphs' reduce): each warp adds its threads' values s[] by a tree of strides 16 ... 1,
 * then thread 0 adds the warps' results in order.
 */
#define WARP_TREE_SUM(NAME, T)                                                                     \
    static inline T NAME(T *s, long long threads)                                                  \
    {                                                                                              \
        for (long long w = 0; w < threads; w += 32)                                                \
            for (long long i = 16; i > 0; i >>= 1)                                                 \
                for (long long v = 0; v < i && w + v + i < threads; v++)                           \
                    s[w + v] += s[w + v + i];                                                      \
        T beta = 0;                                                                                \
        for (long long w = 0; w < threads; w += 32)                                                \
            beta += s[w];                                                                          \
        return beta;                                                                               \
    }
WARP_TREE_SUM(warp_tree_sum, float)
WARP_TREE_SUM(warp_tree_sum_double, double)

/* Each file's kernels. */
extern const gpupool_emu_kernel introduction_kernels[];
extern const unsigned introduction_kernel_count;
extern const gpupool_emu_kernel concepts_kernels[];
extern const unsigned concepts_kernel_count;
extern const gpupool_emu_kernel mergesort_kernels[];
extern const unsigned mergesort_kernel_count;
extern const gpupool_emu_kernel gemm_kernels[];
extern const unsigned gemm_kernel_count;
extern const gpupool_emu_kernel texture_kernels[];
extern const unsigned texture_kernel_count;
extern const gpupool_emu_kernel jacobi_kernels[];
extern const unsigned jacobi_kernel_count;
extern const gpupool_emu_kernel features_kernels[];
extern const unsigned features_kernel_count;
extern const gpupool_emu_kernel cooperative_kernels[];
extern const unsigned cooperative_kernel_count;
extern const gpupool_emu_kernel assert_kernels[];
extern const unsigned assert_kernel_count;
extern const gpupool_emu_kernel attribute_kernels[];
extern const unsigned attribute_kernel_count;
extern const gpupool_emu_kernel bindless_kernels[];
extern const unsigned bindless_kernel_count;
extern const gpupool_emu_kernel interval_kernels[];
extern const unsigned interval_kernel_count;
extern const gpupool_emu_kernel dct8x8_kernels[];
extern const unsigned dct8x8_kernel_count;
extern const gpupool_emu_kernel eigenvalues_kernels[];
extern const unsigned eigenvalues_kernel_count;
extern const gpupool_emu_kernel conditional_kernels[];
extern const unsigned conditional_kernel_count;
extern const gpupool_emu_kernel cdp_kernels[];
extern const unsigned cdp_kernel_count;
extern const gpupool_emu_kernel bezier_kernels[];
extern const unsigned bezier_kernel_count;
extern const gpupool_emu_kernel thrust_sort_kernels[];
extern const unsigned thrust_sort_kernel_count;
extern const gpupool_emu_kernel particles_kernels[];
extern const unsigned particles_kernel_count;
extern const gpupool_emu_kernel segtree_kernels[];
extern const unsigned segtree_kernel_count;
extern const gpupool_emu_kernel p2p_kernels[];
extern const unsigned p2p_kernel_count;
#endif
