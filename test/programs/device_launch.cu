// Device-side launches through gpupool (issue 11, dynamic parallelism; built with -rdc): kernels that
// launch kernels, waited for by one host synchronisation. On a card the daemon loads the module as
// nvcc built it; on the emulator the CPU versions of these kernels (native/fakes/cuda/kernels/
// test_kernels.c) run each child grid after the grid that launched it (docs/emulator.md,
// "Device-side launches"). The test (test/compute/device-launch.test.ts) reads the "... ok" lines.
#include <cstdio>

#include "cudart_check.h"

// Thread 0 of each block counts the block at its depth and, below max_depth, launches two blocks
// of the same shape one level down.
__global__ void cdp_tree(unsigned *blocks_at, int depth, int max_depth)
{
    if (threadIdx.x != 0)
        return;
    atomicAdd(&blocks_at[depth], 1u);
    if (depth + 1 < max_depth)
        cdp_tree<<<2, blockDim.x>>>(blocks_at, depth + 1, max_depth);
}

// values[i] is twice what the parent grid wrote at i - 1 before launching this one.
__global__ void cdp_chain(int *values, int i, int n)
{
    values[i] = i == 0 ? 1 : 2 * values[i - 1];
    if (i + 1 < n)
        cdp_chain<<<1, 1>>>(values, i + 1, n);
}

int main()
{
    const int depth = 5, links = 12;
    unsigned *blocks_at, counted[depth];
    int *values, chained[links];
    CHECK(cudaMalloc(&blocks_at, sizeof counted));
    CHECK(cudaMemset(blocks_at, 0, sizeof counted));
    CHECK(cudaMalloc(&values, sizeof chained));
    CHECK(cudaMemset(values, 0, sizeof chained));

    cdp_tree<<<2, 32>>>(blocks_at, 0, depth);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaMemcpy(counted, blocks_at, sizeof counted, cudaMemcpyDeviceToHost));
    bool tree = true;
    for (int d = 0; d < depth; d++) {
        printf("depth %d: %u blocks\n", d, counted[d]);
        tree = tree && counted[d] == 2u << d;
    }
    if (tree)
        printf("every grid of a launch tree ran before one host synchronisation returned ok\n");

    cdp_chain<<<1, 1>>>(values, 0, links);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(chained, values, sizeof chained, cudaMemcpyDeviceToHost));
    bool chain = true;
    for (int i = 0; i < links; i++)
        chain = chain && chained[i] == 1 << i;
    if (chain)
        printf("each child grid saw what its parent wrote before launching it ok\n");

    CHECK(cudaFree(values));
    CHECK(cudaFree(blocks_at));
    if (!tree || !chain)
        return 1;
    printf("PASS\n");
    return 0;
}
