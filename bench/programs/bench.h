/*
 * Shared helpers of the benchmark programs (bench/programs/): error checks, the clock, order
 * statistics. Each program measures itself with clock_gettime(CLOCK_MONOTONIC) and prints exactly one
 * line of JSON on stdout; bench/run.js parses it.
 */
#ifndef GPUPOOL_BENCH_H
#define GPUPOOL_BENCH_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n samples, nearest rank; sorts the array in place. */
static inline uint64_t quantile_u64(uint64_t *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/*
 * CPU time per thread of this process over the timed region: threads_mark() at its start,
 * print_threads_json() at its end prints a JSON array of {"tid","cpu_ns"} in tid order (the main
 * thread first; through gpupool the client library's receiver and sender threads follow). Each
 * thread's CPU clock is read through its Linux clock id (MAKE_THREAD_CPUCLOCK: same process only).
 */
#define BENCH_MAX_THREADS 64
static long bench_mark_tid[BENCH_MAX_THREADS];
static uint64_t bench_mark_ns[BENCH_MAX_THREADS];
static int bench_mark_n;

static inline int list_threads(long *tids)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL && n < BENCH_MAX_THREADS) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
            tids[n++] = atol(e->d_name);
    }
    if (d != NULL)
        closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of threads */
        for (int j = i; j > 0 && tids[j - 1] > tids[j]; j--) {
            long x = tids[j];
            tids[j] = tids[j - 1];
            tids[j - 1] = x;
        }
    return n;
}

static inline uint64_t thread_cpu_ns(long tid)
{
    struct timespec ts = { 0, 0 };
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6); /* CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK */
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void threads_mark(void)
{
    bench_mark_n = list_threads(bench_mark_tid);
    for (int i = 0; i < bench_mark_n; i++)
        bench_mark_ns[i] = thread_cpu_ns(bench_mark_tid[i]);
}

static inline void print_threads_json(void)
{
    long tids[BENCH_MAX_THREADS];
    int n = list_threads(tids);
    printf("[");
    for (int i = 0; i < n; i++) {
        uint64_t ns = thread_cpu_ns(tids[i]);
        for (int j = 0; j < bench_mark_n; j++)
            if (bench_mark_tid[j] == tids[i])
                ns -= ns >= bench_mark_ns[j] ? bench_mark_ns[j] : ns;
        printf("%s{\"tid\":%ld,\"cpu_ns\":%llu}", i ? "," : "", tids[i], (unsigned long long)ns);
    }
    printf("]");
}

static inline void die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

#ifdef GPUPOOL_BENCH_CUDA
#define CHECK_PREFIX "bench:"
#include "../../test/programs/cuda_check.h"




#endif

#endif
