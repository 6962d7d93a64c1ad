/*
 * Benchmark 2: asynchronous kernel launches per second. Launches N `spin` kernels (1 parameter) on
 * the legacy stream, then one cuCtxSynchronize; the rate is N over the time from the first launch to
 * the synchronisation's return. Also reports how long the launch calls alone took (the enqueue rate).
 * Usage: launch_rate KERNELS.fatbin N
 * Prints: {"bench":"launch_rate","n":N,"launches_per_s":...,"enqueue_per_s":...,"wall_ns":...,"enqueue_ns":...,
 *          "threads":[...]} (CPU time of each thread from the first launch to the sync's return)
 */
#define GPUPOOL_BENCH_CUDA
#include "bench.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: launch_rate KERNELS.fatbin [N]");
    size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    open_device();
    void *image = read_file(argv[1], NULL);
    CUmodule module;
    CUfunction spin;
    CHECK(cuModuleLoadData(&module, image));
    CHECK(cuModuleGetFunction(&spin, module, "_Z4spini"));
    int arg = 1;
    void *params[] = { &arg };
    for (int i = 0; i < 2000; i++) /* warm-up: the parameter layout, the batch buffers */
        CHECK(cuLaunchKernel(spin, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
    CHECK(cuCtxSynchronize());
    threads_mark();
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        CUresult rc = cuLaunchKernel(spin, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL);
        if (rc != CUDA_SUCCESS)
            CHECK(rc);
    }
    uint64_t t1 = now_ns();
    CHECK(cuCtxSynchronize());
    uint64_t t2 = now_ns();
    printf("{\"bench\":\"launch_rate\",\"n\":%zu,\"launches_per_s\":%.0f,\"enqueue_per_s\":%.0f,\"wall_ns\":%llu,\"enqueue_ns\":%llu,\"threads\":",
           n, (double)n * 1e9 / (double)(t2 - t0), (double)n * 1e9 / (double)(t1 - t0), (unsigned long long)(t2 - t0),
           (unsigned long long)(t1 - t0));
    print_threads_json();
    printf("}\n");
    CHECK(cuModuleUnload(module));
    return 0;
}
