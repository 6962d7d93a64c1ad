// Cooperative launches through gpupool (issue 11, simpleAWBarrier, reductionMultiBlockCG): the card
// says it can, cudaLaunchCooperativeKernel and cudaLaunchKernelEx with the cooperative attribute run a
// grid whose blocks meet at grid.sync(), a grid larger than the card holds at once is refused as
// cudart's own check and the driver refuse it, and the cache and shared-memory preferences (interval)
// are accepted. Its kernel, grid_sum, is one of the emulator's test kernels.
#include <cstdio>
#include <vector>

#include <cuda.h>

#include "cudart_check.h"
#include "expect.h"
// grid_sum, as the emulator's CPU version implements it.
#include "../../native/fakes/cuda/kernels/test_kernels.cu"

int main()
{
    int coop = 0, sms = 0, per_sm = 0;
    CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, 0));
    expect(coop == 1, "the card says it launches cooperative grids");
    // CUDA 13's runtime no longer names the multi-device attribute; the driver still answers it.
    int multi = -1;
    void *entry = nullptr;
    cudaDriverEntryPointQueryResult found;
    CHECK(cudaGetDriverEntryPointByVersion("cuDeviceGetAttribute", &entry, 2000, cudaEnableDefault, &found));
    auto get_attribute = (CUresult(*)(int *, CUdevice_attribute, CUdevice))entry;
    expect(get_attribute != nullptr && get_attribute(&multi, CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH, 0) == CUDA_SUCCESS && multi == 0,
           "but not one grid over several cards (not carried)");
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const int threads = 128;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, grid_sum, threads, 0));
    expect(per_sm > 0, "cudaOccupancyMaxActiveBlocksPerMultiprocessor bounds the grid");

    const int n = 100000, blocks = sms * per_sm;
    std::vector<int> host(n);
    long long want = 0;
    for (int i = 0; i < n; i++) {
        host[i] = (i * 7) % 1000;
        want += host[i];
    }
    int *in = nullptr, *out = nullptr;
    CHECK(cudaMalloc(&in, n * sizeof(int)));
    CHECK(cudaMalloc(&out, (blocks + 2) * sizeof(int)));
    CHECK(cudaMemcpy(in, host.data(), n * sizeof(int), cudaMemcpyHostToDevice));

    int count = n;
    void *args[] = { &in, &out, &count };
    CHECK(cudaLaunchCooperativeKernel((void *)grid_sum, dim3(blocks), dim3(threads), args, 0, 0));
    int got = 0;
    CHECK(cudaMemcpy(&got, out, sizeof got, cudaMemcpyDeviceToHost));
    expect(got == want, "cudaLaunchCooperativeKernel: every block's sum before grid.sync(), the total after");

    CHECK(cudaMemset(out, 0, (blocks + 2) * sizeof(int)));
    cudaLaunchConfig_t config = {};
    cudaLaunchAttribute attr = {};
    attr.id = cudaLaunchAttributeCooperative;
    attr.val.cooperative = 1;
    config.gridDim = dim3(blocks);
    config.blockDim = dim3(threads);
    config.attrs = &attr;
    config.numAttrs = 1;
    CHECK(cudaLaunchKernelEx(&config, grid_sum, (const int *)in, out, count));
    CHECK(cudaMemcpy(&got, out, sizeof got, cudaMemcpyDeviceToHost));
    expect(got == want, "cudaLaunchKernelEx with the cooperative attribute");

    cudaError_t e = cudaLaunchCooperativeKernel((void *)grid_sum, dim3(blocks + 1), dim3(threads), args, 0, 0);
    expect(e == cudaErrorCooperativeLaunchTooLarge, "a grid larger than the card holds at once is refused");
    config.gridDim = dim3(blocks + 1);
    // cudaLaunchKernelEx travels without waiting (gpupool's launches do): its refusal comes at the
    // next synchronisation, as a failed launch's does.
    e = cudaLaunchKernelEx(&config, grid_sum, (const int *)in, out, count);
    if (e == cudaSuccess)
        e = cudaDeviceSynchronize();
    expect(e == cudaErrorCooperativeLaunchTooLarge, "the same through cudaLaunchKernelEx");
    expect(cudaDeviceSynchronize() == cudaSuccess, "a refused cooperative launch leaves the context usable");

    CHECK(cudaFuncSetCacheConfig(grid_sum, cudaFuncCachePreferL1));
    CHECK(cudaDeviceSetCacheConfig(cudaFuncCachePreferShared));
    cudaFuncCache cache = cudaFuncCachePreferNone;
    CHECK(cudaDeviceGetCacheConfig(&cache));
    expect(cache == cudaFuncCachePreferShared, "cache preferences of a kernel and of the device");

    CHECK(cudaFree(in));
    CHECK(cudaFree(out));
    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
