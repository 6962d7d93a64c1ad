// The device heap through gpupool (issue 11, cdpBezierTessellation): kernels that malloc and free
// device memory, within the heap size the program set (cudaLimitMallocHeapSize, carried to the
// daemon's driver). On the emulator the CPU versions of these kernels (native/fakes/cuda/kernels/
// test_kernels.c) take from the context's heap (docs/emulator.md, "The device heap").
#include <cstdint>
#include <cstdio>

#include "cudart_check.h"
#include "expect.h"

// Thread i allocates n ints, fills them with base + i, and leaves the block in slots[i].
__global__ void heap_fill(int **slots, int n, int base)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int *p = (int *)malloc(n * sizeof(int));
    slots[i] = p;
    if (p != NULL)
        for (int k = 0; k < n; k++)
            p[k] = base + i;
}

// Thread i sums its block, launched later, and frees it.
__global__ void heap_sum(int **slots, int n, long long *sums)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    long long s = 0;
    for (int k = 0; k < n && slots[i] != NULL; k++)
        s += slots[i][k];
    sums[i] = s;
    free(slots[i]);
}

// One thread asks for bytes and says whether it got them, freeing them again.
__global__ void heap_take(size_t bytes, unsigned long long *got)
{
    void *p = malloc(bytes);
    *got = p != NULL;
    free(p);
}

int main()
{
    const size_t heap = 1 << 20;
    CHECK(cudaDeviceSetLimit(cudaLimitMallocHeapSize, heap));
    size_t limit = 0;
    CHECK(cudaDeviceGetLimit(&limit, cudaLimitMallocHeapSize));
    expect(limit == heap, "the heap size is carried");

    const int threads = 64, n = 100, base = 7;
    int **slots;
    long long *sums;
    unsigned long long *got;
    CHECK(cudaMalloc(&slots, threads * sizeof *slots));
    CHECK(cudaMalloc(&sums, threads * sizeof *sums));
    CHECK(cudaMalloc(&got, sizeof *got));
    heap_fill<<<2, threads / 2>>>(slots, n, base);
    CHECK(cudaGetLastError());
    int *seen[threads];
    CHECK(cudaMemcpy(seen, slots, sizeof seen, cudaMemcpyDeviceToHost));
    bool distinct = true;
    for (int i = 0; i < threads; i++) {
        distinct = distinct && seen[i] != NULL && (uintptr_t)seen[i] % 16 == 0;
        for (int j = 0; j < i; j++)
            distinct = distinct && (seen[j] + n <= seen[i] || seen[i] + n <= seen[j]);
    }
    expect(distinct, "each thread's block is its own, aligned to 16");

    heap_sum<<<1, threads>>>(slots, n, sums);
    CHECK(cudaGetLastError());
    long long summed[threads];
    CHECK(cudaMemcpy(summed, sums, sizeof summed, cudaMemcpyDeviceToHost));
    bool kept = true;
    for (int i = 0; i < threads; i++)
        kept = kept && summed[i] == (long long)n * (base + i);
    expect(kept, "a later kernel reads what a kernel wrote to the heap");

    unsigned long long took = 0;
    heap_take<<<1, 1>>>(2 * heap, got);
    CHECK(cudaMemcpy(&took, got, sizeof took, cudaMemcpyDeviceToHost));
    expect(took == 0, "more than the heap answers NULL");
    heap_take<<<1, 1>>>(heap / 2, got);
    CHECK(cudaMemcpy(&took, got, sizeof took, cudaMemcpyDeviceToHost));
    expect(took == 1, "freed blocks are taken again");

    cudaError_t rc = cudaDeviceSetLimit(cudaLimitMallocHeapSize, 2 * heap);
    (void)cudaGetLastError();
    printf("resize after use: %s\n", cudaGetErrorName(rc));
    expect(rc == cudaErrorInvalidValue, "the heap size is fixed once kernels used it");

    CHECK(cudaFree(got));
    CHECK(cudaFree(sums));
    CHECK(cudaFree(slots));
    if (failures != 0)
        return 1;
    printf("PASS\n");
    return 0;
}
