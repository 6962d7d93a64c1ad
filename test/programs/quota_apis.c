/*
 * A memory quota through every allocating API (docs/operations.md, "Memory quotas"), on one device.
 * Usage: quota_apis [DEV]              fill, free and refill through each API; data; 8 threads
 *        quota_apis hold DEV           hold 16 MiB through each API, print "ready PID held BYTES",
 *                                      wait for a line (or EOF) on stdin, exit 0 (the test kills it)
 *        quota_apis meminfo DEV        print "free F total T" (cuMemGetInfo) and exit
 *
 * The default mode prints "totalMem T capacity F0": cuDeviceTotalMem and the device's free memory
 * (cuMemGetInfo). Then for each API it allocates blocks until an allocation fails and prints
 * "API: allocated B bytes in K blocks, then ERR"; it must be CUDA_ERROR_OUT_OF_MEMORY with B <= F0 < B + one block (the count is exact). Then it frees one
 * block and allocates it again ("API after free: ERR"), frees everything ("API freed: free F"; F must
 * be F0 again). It checks that data written into a VMM mapping, a stream-ordered allocation, a pool
 * allocation and an array reads back ("data API: ok"), that released VMM memory stays counted while
 * mapped, and that 8 threads allocating together through four APIs never pass F0 ("threads 8:
 * allocated B bytes in K blocks, then ERR"); and that cuMemAllocManaged, asked twice, is not supported
 * ("cuMemAllocManaged: ERR, ERR"). Prints PASS (exit 0) or FAIL (exit 1).
 */
#include "cuda_check.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define BLOCK (64 * MiB)
#define MAX_BLOCKS 64
#define THREADS 8
#define THREAD_BLOCK (16 * MiB)

static CUdevice g_dev;
static CUcontext g_ctx;
static int g_ok = 1;

static const char *name_of(CUresult rc)
{
    const char *name = NULL;
    cuGetErrorName(rc, &name);
    return name ? name : "?";
}

static void expect(int cond, const char *what)
{
    if (!cond) {
        printf("FAILED: %s\n", what);
        g_ok = 0;
    }
}

static size_t free_now(void)
{
    size_t free_bytes = 0, total = 0;
    CHECK(cuMemGetInfo(&free_bytes, &total));
    return free_bytes;
}

/* ---- one allocation through any API ------------------------------------------------------------ */

typedef enum { API_ALLOC, API_PITCH, API_ARRAY, API_ARRAY3D, API_MIPMAP, API_VMM, API_ASYNC, API_POOL, API_COUNT } api;
static const char *const API_NAMES[API_COUNT] = { "cuMemAlloc", "cuMemAllocPitch", "cuArrayCreate", "cuArray3DCreate",
                                                  "cuMipmappedArrayCreate", "cuMemCreate", "cuMemAllocAsync",
                                                  "cuMemAllocFromPoolAsync" };

typedef struct {
    api kind;
    CUdeviceptr ptr;
    CUarray array;
    CUmipmappedArray mipmap;
    CUmemGenericAllocationHandle handle;
    int mapped;
} block;

static CUstream g_stream;
static CUmemoryPool g_pool;
/* VMM blocks are mapped into one range reserved for all of them: twice the device, never counted. */
static CUdeviceptr g_va;
static size_t g_va_size;

static CUmemAllocationProp device_prop(void)
{
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = g_dev;
    /* Pointers in the struct are the client's: gpupool sends NULL for them whatever they hold. */
    prop.win32HandleMetaData = (void *)(uintptr_t)0xdeadbeef;
    return prop;
}

/* The memory one block of `bytes` takes through that API (a mipmap's levels summed). */
static size_t block_bytes(api kind, size_t bytes)
{
    if (kind != API_MIPMAP)
        return bytes;
    size_t side = 1, total = 0;
    while (side * side * 4 < bytes)
        side *= 2;
    for (size_t s = side; s >= 1; s /= 2)
        total += s * s * 4;
    return total;
}

/* Square float arrays of `bytes`; a mipmap of every level of one. */
static CUresult alloc_block(api kind, size_t bytes, int slot, block *b)
{
    memset(b, 0, sizeof *b);
    b->kind = kind;
    size_t side = 1;
    while (side * side * 4 < bytes)
        side *= 2;
    switch (kind) {
    case API_ALLOC: return cuMemAlloc(&b->ptr, bytes);
    case API_PITCH: {
        size_t pitch = 0;
        return cuMemAllocPitch(&b->ptr, &pitch, MiB, bytes / MiB, 4);
    }
    case API_ARRAY: {
        CUDA_ARRAY_DESCRIPTOR d = { side, side, CU_AD_FORMAT_FLOAT, 1 };
        return cuArrayCreate(&b->array, &d);
    }
    case API_ARRAY3D: {
        size_t edge = 1;
        while (edge * edge * edge * 4 < bytes)
            edge *= 2;
        CUDA_ARRAY3D_DESCRIPTOR d = { edge, edge, bytes / (edge * edge * 4), CU_AD_FORMAT_FLOAT, 1, 0 };
        return cuArray3DCreate(&b->array, &d);
    }
    case API_MIPMAP: {
        CUDA_ARRAY3D_DESCRIPTOR d = { side, side, 0, CU_AD_FORMAT_FLOAT, 1, 0 };
        unsigned levels = 1;
        for (size_t s = side; s > 1; s /= 2)
            levels++;
        return cuMipmappedArrayCreate(&b->mipmap, &d, levels);
    }
    case API_VMM: {
        CUmemAllocationProp prop = device_prop();
        CUresult rc = cuMemCreate(&b->handle, bytes, &prop, 0);
        if (rc != CUDA_SUCCESS || slot < 0)
            return rc;
        b->ptr = g_va + (CUdeviceptr)slot * bytes;
        CHECK(cuMemMap(b->ptr, bytes, 0, b->handle, 0));
        CUmemAccessDesc access = { { CU_MEM_LOCATION_TYPE_DEVICE, g_dev }, CU_MEM_ACCESS_FLAGS_PROT_READWRITE };
        CHECK(cuMemSetAccess(b->ptr, bytes, &access, 1));
        b->mapped = 1;
        return rc;
    }
    case API_ASYNC: return cuMemAllocAsync(&b->ptr, bytes, g_stream);
    case API_POOL: return cuMemAllocFromPoolAsync(&b->ptr, bytes, g_pool, g_stream);
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

static void free_block(block *b, size_t bytes)
{
    switch (b->kind) {
    case API_ALLOC:
    case API_PITCH: CHECK(cuMemFree(b->ptr)); break;
    case API_ARRAY:
    case API_ARRAY3D: CHECK(cuArrayDestroy(b->array)); break;
    case API_MIPMAP: CHECK(cuMipmappedArrayDestroy(b->mipmap)); break;
    case API_VMM:
        if (b->mapped)
            CHECK(cuMemUnmap(b->ptr, bytes));
        CHECK(cuMemRelease(b->handle));
        break;
    case API_ASYNC:
    case API_POOL:
        CHECK(cuMemFreeAsync(b->ptr, g_stream));
        CHECK(cuStreamSynchronize(g_stream));
        break;
    default: break;
    }
}

/* ---- fill, free one, refill, free all ------------------------------------------------------------ */

static void fill(api kind, size_t capacity)
{
    static block blocks[MAX_BLOCKS];
    const char *name = API_NAMES[kind];
    size_t one = block_bytes(kind, BLOCK);
    int n = 0;
    CUresult rc = CUDA_SUCCESS;
    while (n < MAX_BLOCKS && (rc = alloc_block(kind, BLOCK, n, &blocks[n])) == CUDA_SUCCESS)
        n++;
    printf("%s: allocated %zu bytes in %d blocks, then %s\n", name, (size_t)n * one, n, name_of(rc));
    expect(rc == CUDA_ERROR_OUT_OF_MEMORY, "out of memory past the quota");
    expect((size_t)n * one <= capacity && (size_t)(n + 1) * one > capacity, "filled exactly up to the quota");

    CUresult again = CUDA_ERROR_UNKNOWN;
    if (n > 0) {
        free_block(&blocks[n - 1], BLOCK);
        again = alloc_block(kind, BLOCK, n - 1, &blocks[n - 1]);
    }
    printf("%s after free: %s\n", name, name_of(again));
    expect(again == CUDA_SUCCESS, "freed memory returns to the quota");
    for (int i = 0; i < n; i++)
        free_block(&blocks[i], BLOCK);
    size_t after = free_now();
    printf("%s freed: free %zu\n", name, after);
    expect(after == capacity, "everything freed returns to the quota");
}

/* ---- data ----------------------------------------------------------------------------------------- */

static int same_pattern(const uint32_t *got, size_t words, uint32_t seed)
{
    for (size_t i = 0; i < words; i++)
        if (got[i] != (uint32_t)(i * 2654435761u) + seed)
            return 0;
    return 1;
}

static void pattern(uint32_t *buf, size_t words, uint32_t seed)
{
    for (size_t i = 0; i < words; i++)
        buf[i] = (uint32_t)(i * 2654435761u) + seed;
}

static void data_linear(const char *name, CUdeviceptr ptr, size_t bytes, int async, uint32_t seed)
{
    uint32_t *in = malloc(bytes), *out = calloc(1, bytes);
    pattern(in, bytes / 4, seed);
    if (async) {
        CHECK(cuMemcpyHtoDAsync(ptr, in, bytes, g_stream));
        CHECK(cuMemcpyDtoHAsync(out, ptr, bytes, g_stream));
        CHECK(cuStreamSynchronize(g_stream));
    } else {
        CHECK(cuMemcpyHtoD(ptr, in, bytes));
        CHECK(cuMemcpyDtoH(out, ptr, bytes));
    }
    int ok = same_pattern(out, bytes / 4, seed);
    printf("data %s: %s\n", name, ok ? "ok" : "wrong");
    expect(ok, name);
    free(in);
    free(out);
}

static void data_memset(const char *name, CUdeviceptr ptr, size_t bytes)
{
    uint32_t *out = calloc(1, bytes);
    CHECK(cuMemsetD32(ptr, 0x5eed5eedu, bytes / 4));
    CHECK(cuMemcpyDtoH(out, ptr, bytes));
    int ok = 1;
    for (size_t i = 0; i < bytes / 4; i++)
        ok = ok && out[i] == 0x5eed5eedu;
    printf("memset %s: %s\n", name, ok ? "ok" : "wrong");
    expect(ok, name);
    free(out);
}

static void data_checks(void)
{
    size_t granularity = 0;
    CUmemAllocationProp prop = device_prop();
    CHECK(cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    printf("granularity %zu\n", granularity);
    expect(granularity > 0 && BLOCK % granularity == 0, "a granularity that divides the blocks");

    /* VMM: a mapping is memory like any other; its properties name this device. */
    block v;
    CHECK(alloc_block(API_VMM, 2 * granularity, 0, &v));
    CUmemAllocationProp got;
    memset(&got, 0xff, sizeof got);
    CHECK(cuMemGetAllocationPropertiesFromHandle(&got, v.handle));
    expect(got.location.type == CU_MEM_LOCATION_TYPE_DEVICE && got.location.id == g_dev && got.win32HandleMetaData == NULL,
           "cuMemGetAllocationPropertiesFromHandle names this device");
    data_linear("cuMemCreate", v.ptr, 2 * granularity, 0, 1);
    data_memset("cuMemCreate", v.ptr, 2 * granularity);
    /* Released while mapped: the memory is still held, and counted, until it is unmapped. */
    size_t before = free_now();
    CHECK(cuMemRelease(v.handle));
    size_t released = free_now();
    data_linear("cuMemCreate after release", v.ptr, granularity, 0, 2);
    CHECK(cuMemUnmap(v.ptr, 2 * granularity));
    size_t unmapped = free_now();
    printf("vmm release while mapped: free %zu, after unmap %zu\n", released, unmapped);
    expect(released == before && unmapped == before + 2 * granularity, "released memory counted until unmapped");

    block a;
    CHECK(alloc_block(API_ASYNC, MiB, -1, &a));
    data_linear("cuMemAllocAsync", a.ptr, MiB, 1, 3);
    data_memset("cuMemAllocAsync", a.ptr, MiB);
    free_block(&a, MiB);

    block p;
    CHECK(alloc_block(API_POOL, MiB, -1, &p));
    cuuint64_t used = 0;
    CHECK(cuMemPoolGetAttribute(g_pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
    expect(used == MiB, "the pool's used memory");
    data_linear("cuMemAllocFromPoolAsync", p.ptr, MiB, 1, 4);
    free_block(&p, MiB);

    /* Arrays: linear copies to and from a 1D array, and the descriptors. */
    CUarray arr;
    CUDA_ARRAY_DESCRIPTOR d1 = { 65536, 0, CU_AD_FORMAT_UNSIGNED_INT32, 1 };
    CHECK(cuArrayCreate(&arr, &d1));
    size_t bytes = 65536 * 4;
    uint32_t *in = malloc(bytes), *out = calloc(1, bytes);
    pattern(in, 65536, 5);
    CHECK(cuMemcpyHtoA(arr, 0, in, bytes));
    CHECK(cuMemcpyAtoH(out, arr, 0, bytes));
    int ok = same_pattern(out, 65536, 5);
    CUDA_ARRAY_DESCRIPTOR back;
    CHECK(cuArrayGetDescriptor(&back, arr));
    ok = ok && back.Width == 65536 && back.Format == CU_AD_FORMAT_UNSIGNED_INT32 && back.NumChannels == 1;
    printf("data cuArrayCreate: %s\n", ok ? "ok" : "wrong");
    expect(ok, "array data and descriptor");
    CHECK(cuArrayDestroy(arr));
    free(in);
    free(out);

    CUmipmappedArray mip;
    CUDA_ARRAY3D_DESCRIPTOR d3 = { 256, 256, 0, CU_AD_FORMAT_FLOAT, 1, 0 };
    CHECK(cuMipmappedArrayCreate(&mip, &d3, 3));
    CUarray level;
    CUDA_ARRAY3D_DESCRIPTOR ld;
    CHECK(cuMipmappedArrayGetLevel(&level, mip, 2));
    CHECK(cuArray3DGetDescriptor(&ld, level));
    printf("mipmap level 2: %zux%zu\n", ld.Width, ld.Height);
    expect(ld.Width == 64 && ld.Height == 64, "a mipmap level is a quarter of the side two levels down");
    CHECK(cuMipmappedArrayDestroy(mip));
}

/* ---- threads ------------------------------------------------------------------------------------- */

typedef struct {
    int index;
    block blocks[MAX_BLOCKS];
    int count;
    CUresult last;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    static const api kinds[4] = { API_ALLOC, API_ASYNC, API_ARRAY, API_VMM };
    CHECK(cuCtxSetCurrent(g_ctx));
    /* VMM blocks stay unmapped here: the memory is what counts. */
    while (w->count < MAX_BLOCKS &&
           (w->last = alloc_block(kinds[w->index % 4], THREAD_BLOCK, -1, &w->blocks[w->count])) == CUDA_SUCCESS)
        w->count++;
    return NULL;
}

static void threads(size_t capacity)
{
    static worker workers[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i].index = i;
        pthread_create(&tid[i], NULL, work, &workers[i]);
    }
    int n = 0, all_oom = 1;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        n += workers[i].count;
        all_oom = all_oom && workers[i].last == CUDA_ERROR_OUT_OF_MEMORY;
    }
    printf("threads %d: allocated %zu bytes in %d blocks, then %s\n", THREADS, (size_t)n * THREAD_BLOCK, n,
           all_oom ? "CUDA_ERROR_OUT_OF_MEMORY" : "something else");
    expect(all_oom, "every thread ends on out of memory");
    expect((size_t)n * THREAD_BLOCK <= capacity && (size_t)(n + 1) * THREAD_BLOCK > capacity,
           "the threads together fill the quota exactly, never past it");
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < workers[i].count; k++)
            free_block(&workers[i].blocks[k], THREAD_BLOCK);
    size_t after = free_now();
    printf("threads freed: free %zu\n", after);
    expect(after == capacity, "the threads' memory returns");
}

/* ---- modes ------------------------------------------------------------------------------------- */

static void setup(int dev)
{
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&g_dev, dev));
    CHECK(cuDevicePrimaryCtxRetain(&g_ctx, g_dev));
    CHECK(cuCtxSetCurrent(g_ctx));
    CHECK(cuStreamCreate(&g_stream, CU_STREAM_NON_BLOCKING));
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = g_dev;
    CHECK(cuMemPoolCreate(&g_pool, &props));
    size_t total = 0;
    CHECK(cuDeviceTotalMem(&total, g_dev));
    g_va_size = (total / BLOCK + 2) * BLOCK * 2;
    CHECK(cuMemAddressReserve(&g_va, g_va_size, 0, 0, 0));
}

static void teardown(void)
{
    CHECK(cuMemAddressFree(g_va, g_va_size));
    CHECK(cuMemPoolDestroy(g_pool));
    CHECK(cuStreamDestroy(g_stream));
    CHECK(cuDevicePrimaryCtxRelease(g_dev));
}

static int hold(void)
{
    static block held[API_COUNT];
    size_t before = free_now();
    for (int k = 0; k < API_COUNT; k++)
        CHECK(alloc_block((api)k, THREAD_BLOCK, 0, &held[k]));
    printf("ready %d held %zu\n", (int)getpid(), before - free_now());
    fflush(stdout);
    char line[64];
    (void)!fgets(line, sizeof line, stdin);
    return 0;
}

int main(int argc, char **argv)
{
    int dev = argc > 2 ? atoi(argv[2]) : argc > 1 && argv[1][0] >= '0' && argv[1][0] <= '9' ? atoi(argv[1]) : 0;
    if (argc > 1 && strcmp(argv[1], "meminfo") == 0) {
        size_t free_bytes = 0, total = 0;
        CHECK(cuInit(0));
        CHECK(cuDeviceGet(&g_dev, dev));
        CHECK(cuDevicePrimaryCtxRetain(&g_ctx, g_dev));
        CHECK(cuCtxSetCurrent(g_ctx));
        CHECK(cuMemGetInfo(&free_bytes, &total));
        printf("free %zu total %zu\n", free_bytes, total);
        return 0;
    }
    setup(dev);
    if (argc > 1 && strcmp(argv[1], "hold") == 0)
        return hold();
    size_t capacity = free_now(), total = 0;
    CHECK(cuDeviceTotalMem(&total, g_dev));
    printf("totalMem %zu capacity %zu\n", total, capacity);
    for (int k = 0; k < API_COUNT; k++)
        fill((api)k, capacity);
    data_checks();
    expect(free_now() == capacity, "the data checks gave everything back");
    /* Managed memory is not supported: said once, however often asked. */
    CUdeviceptr managed = 0;
    CUresult first = cuMemAllocManaged(&managed, MiB, CU_MEM_ATTACH_GLOBAL);
    CUresult second = cuMemAllocManaged(&managed, MiB, CU_MEM_ATTACH_GLOBAL);
    printf("cuMemAllocManaged: %s, %s\n", name_of(first), name_of(second));
    expect(first == CUDA_ERROR_NOT_SUPPORTED && second == CUDA_ERROR_NOT_SUPPORTED, "managed memory is not supported");
    threads(capacity);
    teardown();
    printf("%s\n", g_ok ? "PASS" : "FAIL");
    return g_ok ? 0 : 1;
}
