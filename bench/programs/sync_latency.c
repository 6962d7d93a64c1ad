/*
 * Benchmark 1, the gpupool side: the latency of one synchronous call that does (almost) nothing on
 * the device. Times each of N calls on an idle context.
 * Usage: sync_latency N [ctxsync|streamquery]
 * Prints: {"bench":"sync_latency","op":...,"n":N,"median_ns":...,"p99_ns":...,"mean_ns":...,"wall_ns":...,
 *          "threads":[{"tid":...,"cpu_ns":...},...]} (CPU time of each thread over the timed calls)
 */
#define GPUPOOL_BENCH_CUDA
#include "bench.h"

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    const char *op = argc > 2 ? argv[2] : "ctxsync";
    int query = strcmp(op, "streamquery") == 0;
    open_device();
    uint64_t *t = malloc(n * sizeof *t);
    if (t == NULL)
        die("out of memory");
    for (size_t i = 0; i < 1000; i++) /* warm-up: connection, caches, CPU frequency */
        CHECK(query ? cuStreamQuery(NULL) : cuCtxSynchronize());
    threads_mark();
    uint64_t total0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t a = now_ns();
        CUresult rc = query ? cuStreamQuery(NULL) : cuCtxSynchronize();
        t[i] = now_ns() - a;
        if (rc != CUDA_SUCCESS)
            CHECK(rc);
    }
    uint64_t total = now_ns() - total0;
    uint64_t median = quantile_u64(t, n, 0.5), p99 = quantile_u64(t, n, 0.99);
    printf("{\"bench\":\"sync_latency\",\"op\":\"%s\",\"n\":%zu,\"median_ns\":%llu,\"p99_ns\":%llu,\"mean_ns\":%.1f,\"wall_ns\":%llu,\"threads\":",
           query ? "cuStreamQuery" : "cuCtxSynchronize", n, (unsigned long long)median, (unsigned long long)p99, (double)total / (double)n,
           (unsigned long long)total);
    print_threads_json();
    printf("}\n");
    return 0;
}
