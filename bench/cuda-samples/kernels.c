/*
 * The kernel library of the conformance run (bench/cuda-samples/run.js, docs/compatibility.md): CPU
 * implementations of the cuda-samples' kernels, under their nvcc names, each written from the
 * sample's own kernel source so that the sample's checks judge them (docs/emulator.md, "Kernels: the
 * CPU-implementation ABI"). A sample whose kernels are not here fails its launch with
 * CUDA_ERROR_NO_BINARY_FOR_GPU, never silently. One file per samples' folder; this one gathers them.
 */
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

static gpupool_emu_kernel *g_all;
static unsigned g_count;

__attribute__((constructor)) static void gather(void)
{
    const struct {
        const gpupool_emu_kernel *kernels;
        unsigned count;
    } parts[] = {
        { introduction_kernels, introduction_kernel_count },
        { mergesort_kernels, mergesort_kernel_count },
        { concepts_kernels, concepts_kernel_count },
        { features_kernels, features_kernel_count },
        { gemm_kernels, gemm_kernel_count },
        { texture_kernels, texture_kernel_count },
        { jacobi_kernels, jacobi_kernel_count },
        { cooperative_kernels, cooperative_kernel_count },
        { assert_kernels, assert_kernel_count },
        { attribute_kernels, attribute_kernel_count },
        { bindless_kernels, bindless_kernel_count },
        { interval_kernels, interval_kernel_count },
        { dct8x8_kernels, dct8x8_kernel_count },
        { eigenvalues_kernels, eigenvalues_kernel_count },
        { conditional_kernels, conditional_kernel_count },
        { cdp_kernels, cdp_kernel_count },
        { bezier_kernels, bezier_kernel_count },
        { thrust_sort_kernels, thrust_sort_kernel_count },
        { particles_kernels, particles_kernel_count },
        { segtree_kernels, segtree_kernel_count },
        { p2p_kernels, p2p_kernel_count },
    };
    unsigned total = 0;
    for (unsigned i = 0; i < COUNT(parts); i++)
        total += parts[i].count;
    g_all = calloc(total, sizeof *g_all);
    if (g_all == NULL)
        return; /* no kernels: every launch then fails by name, never silently */
    for (unsigned i = 0; i < COUNT(parts); i++) {
        memcpy(g_all + g_count, parts[i].kernels, parts[i].count * sizeof *g_all);
        g_count += parts[i].count;
    }
}

const gpupool_emu_kernel *gpupool_emu_kernels(unsigned *count)
{
    *count = g_count;
    return g_all;
}
