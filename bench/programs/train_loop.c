/*
 * Benchmark 4: a training-like loop. Each step copies a small batch to the device
 * (cuMemcpyHtoDAsync), launches K kernels on one stream (a `scale` over the batch, K-2 `spin`, a
 * `saxpy` that folds the batch into a one-float "loss"), copies the loss back (cuMemcpyDtoHAsync)
 * and waits for the stream (as loss.item() does). Kernels take GPUPOOL_EMU_KERNEL_NS each on the
 * emulated device. Times the whole loop and each step.
 * Usage: train_loop KERNELS.fatbin STEPS K BATCH_BYTES [SPIN_ARG]
 * SPIN_ARG (default 1) is the `spin` kernels' parameter: the emulator ignores it (its time model sets the
 * duration); with bench/programs/gpu_kernels.cu on a real GPU it is each spin's duration in ns.
 * Prints: {"bench":"train_loop","steps":S,"kernels":K,"batch_bytes":B,"wall_ns":...,"step_median_ns":...,
 *          "step_p99_ns":...,"threads":[...]}
 */
#define GPUPOOL_BENCH_CUDA
#include "bench.h"

static int spin_arg = 1;

static void step(CUstream s, CUfunction scale, CUfunction spin, CUfunction saxpy, CUdeviceptr batch, CUdeviceptr loss, const float *host_batch,
                 float *host_loss, int n, int k)
{
    float factor = 0.5f, a = 1.0f;
    int one = 1, iters = spin_arg;
    void *scale_params[] = { &batch, &factor, &n };
    void *spin_params[] = { &iters };
    void *saxpy_params[] = { &a, &batch, &loss, &one };
    CHECK(cuMemcpyHtoDAsync(batch, host_batch, (size_t)n * sizeof(float), s));
    CHECK(cuLaunchKernel(scale, (unsigned)(n + 255) / 256, 1, 1, 256, 1, 1, 0, s, scale_params, NULL));
    for (int i = 0; i < k - 2; i++)
        CHECK(cuLaunchKernel(spin, 1, 1, 1, 32, 1, 1, 0, s, spin_params, NULL));
    CHECK(cuLaunchKernel(saxpy, 1, 1, 1, 32, 1, 1, 0, s, saxpy_params, NULL));
    CHECK(cuMemcpyDtoHAsync(host_loss, loss, sizeof(float), s));
    CHECK(cuStreamSynchronize(s));
}

int main(int argc, char **argv)
{
    if (argc < 5)
        die("usage: train_loop KERNELS.fatbin STEPS K BATCH_BYTES [SPIN_ARG]");
    int steps = atoi(argv[2]), k = atoi(argv[3]);
    if (argc > 5)
        spin_arg = atoi(argv[5]);
    size_t batch_bytes = strtoull(argv[4], NULL, 10);
    if (steps < 1 || k < 2 || batch_bytes < sizeof(float))
        die("STEPS >= 1, K >= 2, BATCH_BYTES >= 4");
    int n = (int)(batch_bytes / sizeof(float));
    open_device();
    void *image = read_file(argv[1], NULL);
    CUmodule module;
    CUfunction scale, spin, saxpy;
    CHECK(cuModuleLoadData(&module, image));
    CHECK(cuModuleGetFunction(&scale, module, "_Z5scalePffi"));
    CHECK(cuModuleGetFunction(&spin, module, "_Z4spini"));
    CHECK(cuModuleGetFunction(&saxpy, module, "_Z5saxpyfPKfPfi"));
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr batch, loss;
    CHECK(cuMemAlloc(&batch, (size_t)n * sizeof(float)));
    CHECK(cuMemAlloc(&loss, sizeof(float)));
    float *host_batch = malloc((size_t)n * sizeof(float)), host_loss = 0;
    for (int i = 0; i < n; i++)
        host_batch[i] = 1.0f;
    for (int i = 0; i < 10; i++) /* warm-up */
        step(s, scale, spin, saxpy, batch, loss, host_batch, &host_loss, n, k);
    CHECK(cuMemsetD32(loss, 0, 1));
    uint64_t *t = malloc((size_t)steps * sizeof *t);
    threads_mark();
    uint64_t t0 = now_ns();
    for (int i = 0; i < steps; i++) {
        uint64_t a = now_ns();
        step(s, scale, spin, saxpy, batch, loss, host_batch, &host_loss, n, k);
        t[i] = now_ns() - a;
    }
    uint64_t total = now_ns() - t0;
    /* the loss after `steps` steps: each adds 0.5 * batch[0] = 0.5 */
    if (host_loss != 0.5f * (float)steps) {
        fprintf(stderr, "bench: wrong loss %g after %d steps\n", host_loss, steps);
        return 1;
    }
    uint64_t median = quantile_u64(t, (size_t)steps, 0.5), p99 = quantile_u64(t, (size_t)steps, 0.99);
    printf("{\"bench\":\"train_loop\",\"steps\":%d,\"kernels\":%d,\"batch_bytes\":%zu,\"wall_ns\":%llu,\"step_median_ns\":%llu,\"step_p99_ns\":%llu,\"threads\":",
           steps, k, batch_bytes, (unsigned long long)total, (unsigned long long)median, (unsigned long long)p99);
    print_threads_json();
    printf("}\n");
    CHECK(cuStreamDestroy(s));
    CHECK(cuMemFree(batch));
    CHECK(cuMemFree(loss));
    CHECK(cuModuleUnload(module));
    return 0;
}
