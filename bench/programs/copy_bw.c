/*
 * Benchmark 3, the gpupool side: synchronous cuMemcpyHtoD and cuMemcpyDtoH throughput from pageable
 * host memory, for each size given. Each size is copied `reps` times per direction (enough to move
 * about TARGET_BYTES, at least 3 and at most MAX_REPS); the figure is the median repetition.
 * Usage: copy_bw DIRECTIONS TARGET_BYTES SIZE...   (DIRECTIONS: both, htod or dtoh; a direction not
 * measured reports 0)
 * Prints: {"bench":"copy_bw","sizes":[{"bytes":B,"reps":R,"htod_ns":..,"htod_wall_ns":..,"htod_threads":[..],
 *          "dtoh_ns":..,"dtoh_wall_ns":..,"dtoh_threads":[..]},...]} (*_ns: the median repetition; *_wall_ns
 *          and *_threads: all repetitions together)
 */
#define GPUPOOL_BENCH_CUDA
#include "bench.h"

#define MAX_REPS 400

static size_t reps_for(size_t bytes, size_t target)
{
    size_t r = target / bytes;
    return r < 3 ? 3 : r > MAX_REPS ? MAX_REPS : r;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        die("usage: copy_bw both|htod|dtoh[:pinned] TARGET_BYTES SIZE...");
    /* `:pinned`: the host buffer comes from cuMemAllocHost (page-locked), else from malloc (pageable). */
    int pinned = strstr(argv[1], ":pinned") != NULL;
    int do_htod = strncmp(argv[1], "dtoh", 4) != 0, do_dtoh = strncmp(argv[1], "htod", 4) != 0;
    size_t target = strtoull(argv[2], NULL, 10);
    size_t largest = 0;
    for (int i = 3; i < argc; i++) {
        size_t b = strtoull(argv[i], NULL, 10);
        largest = b > largest ? b : largest;
    }
    open_device();
    char *host = NULL;
    if (pinned)
        CHECK(cuMemAllocHost((void **)&host, largest));
    else
        host = malloc(largest);
    if (host == NULL)
        die("out of memory");
    memset(host, 0x3c, largest); /* touched: no page faults inside the timed copies */
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, largest));
    uint64_t *t = malloc(MAX_REPS * sizeof *t);
    printf("{\"bench\":\"copy_bw\",\"pinned\":%d,\"sizes\":[", pinned);
    for (int i = 3; i < argc; i++) {
        size_t bytes = strtoull(argv[i], NULL, 10), reps = reps_for(bytes, target);
        if (do_htod) /* warm-up of this size */
            CHECK(cuMemcpyHtoD(dev, host, bytes));
        if (do_dtoh)
            CHECK(cuMemcpyDtoH(host, dev, bytes));
        threads_mark();
        uint64_t w0 = now_ns();
        for (size_t r = 0; r < reps && do_htod; r++) {
            uint64_t a = now_ns();
            CHECK(cuMemcpyHtoD(dev, host, bytes));
            t[r] = now_ns() - a;
        }
        uint64_t htod = do_htod ? quantile_u64(t, reps, 0.5) : 0, htod_wall = now_ns() - w0;
        printf("%s{\"bytes\":%zu,\"reps\":%zu,\"htod_ns\":%llu,\"htod_wall_ns\":%llu,\"htod_threads\":", i > 3 ? "," : "", bytes, reps,
               (unsigned long long)htod, (unsigned long long)htod_wall);
        print_threads_json();
        threads_mark();
        w0 = now_ns();
        for (size_t r = 0; r < reps && do_dtoh; r++) {
            uint64_t a = now_ns();
            CHECK(cuMemcpyDtoH(host, dev, bytes));
            t[r] = now_ns() - a;
        }
        uint64_t dtoh = do_dtoh ? quantile_u64(t, reps, 0.5) : 0, dtoh_wall = now_ns() - w0;
        printf(",\"dtoh_ns\":%llu,\"dtoh_wall_ns\":%llu,\"dtoh_threads\":", (unsigned long long)dtoh, (unsigned long long)dtoh_wall);
        print_threads_json();
        printf("}");
        fflush(stdout);
    }
    printf("]}\n");
    CHECK(cuMemFree(dev));
    return 0;
}
