/*
 * The shim's local answers, through the probe libcuda.so.1's exported entry points and export
 * tables: device queries (before and after cuInit), error names for every CUresult in cuda.h (the
 * list is argv[1], "NAME VALUE" per line), the export tables and context-local storage.
 */
#include "../shim.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#undef cuDeviceGetUuid
CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);

static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* ---- devices --------------------------------------------------------------------------------- */

static void check_before_init(void)
{
    int n = -1, v = 0;
    CUdevice dev;
    CHECK(cuDeviceGetCount(&n) == CUDA_ERROR_NOT_INITIALIZED);
    CHECK(cuDeviceGet(&dev, 0) == CUDA_ERROR_NOT_INITIALIZED);
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0) == CUDA_ERROR_NOT_INITIALIZED);
    CHECK(cuDeviceGetByPCIBusId(&dev, "0000:41:00.0") == CUDA_ERROR_NOT_INITIALIZED);
    /* Both work before cuInit on the real driver, and cudart relies on the first. */
    CHECK(cuDriverGetVersion(&v) == CUDA_SUCCESS && v == 13000);
    const char *s = NULL;
    CHECK(cuGetErrorName(CUDA_ERROR_NOT_INITIALIZED, &s) == CUDA_SUCCESS && s);
}

static void check_device_queries(void)
{
    int n = 0, v = 0, major = 0, minor = 0;
    CUdevice dev = -1;
    CHECK(cuDeviceGetCount(&n) == CUDA_SUCCESS && n == 2);
    CHECK(cuDeviceGet(&dev, 1) == CUDA_SUCCESS && dev == 1);
    CHECK(cuDeviceGet(&dev, 2) == CUDA_ERROR_INVALID_DEVICE);
    CHECK(cuDeviceGet(&dev, -1) == CUDA_ERROR_INVALID_DEVICE);
    CHECK(cuDeviceGet(NULL, 0) == CUDA_ERROR_INVALID_VALUE);

    char name[64];
    CHECK(cuDeviceGetName(name, sizeof name, 0) == CUDA_SUCCESS &&
          strcmp(name, "NVIDIA H100 80GB HBM3") == 0);
    CHECK(cuDeviceGetName(name, 6, 0) == CUDA_SUCCESS && strcmp(name, "NVIDI") == 0);
    CHECK(cuDeviceGetName(name, 0, 0) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuDeviceGetName(name, sizeof name, 7) == CUDA_ERROR_INVALID_DEVICE);

    size_t bytes = 0;
    CHECK(cuDeviceTotalMem(&bytes, 1) == CUDA_SUCCESS && bytes == (size_t)80 << 30);

    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0) == CUDA_SUCCESS &&
          v == 132);
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 1) == CUDA_SUCCESS && v == 1);
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 1) == CUDA_SUCCESS && v == 0xc1);
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 1) == CUDA_SUCCESS && v == 0);
    CHECK(cuDeviceGetAttribute(&v, 0, 0) == CUDA_ERROR_INVALID_VALUE);     /* never defined */
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuDeviceGetAttribute(&v, -1, 0) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuDeviceGetAttribute(&v, 100000, 0) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 2) == CUDA_ERROR_INVALID_DEVICE);
    CHECK(cuDeviceGetAttribute(NULL, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0) == CUDA_ERROR_INVALID_VALUE);

    CHECK(cuDeviceComputeCapability(&major, &minor, 0) == CUDA_SUCCESS && major == 9 && minor == 0);
    CUdevprop prop;
    CHECK(cuDeviceGetProperties(&prop, 0) == CUDA_SUCCESS && prop.maxThreadsPerBlock == 1024 &&
          prop.maxThreadsDim[2] == 64 && prop.maxGridSize[0] == 2147483647 &&
          prop.SIMDWidth == 32 && prop.clockRate == 1980000 && prop.textureAlign == 512);

    CUuuid u1, u2;
    CHECK(cuDeviceGetUuid(&u1, 1) == CUDA_SUCCESS && cuDeviceGetUuid_v2(&u2, 1) == CUDA_SUCCESS &&
          memcmp(&u1, &u2, sizeof u1) == 0 && (unsigned char)u1.bytes[0] == 0x20);
}

static void check_pci_bus_ids(void)
{
    char id[32];
    /* The real driver's form and its answer to a short buffer: what fits, and an error. */
    CHECK(cuDeviceGetPCIBusId(id, sizeof id, 1) == CUDA_SUCCESS && strcmp(id, "0001:c1:00.0") == 0);
    CHECK(cuDeviceGetPCIBusId(id, 13, 0) == CUDA_SUCCESS && strcmp(id, "0000:41:00.0") == 0);
    CHECK(cuDeviceGetPCIBusId(id, 12, 0) == CUDA_ERROR_INVALID_VALUE && strcmp(id, "0000:41:00.") == 0);
    CHECK(cuDeviceGetPCIBusId(id, 5, 0) == CUDA_ERROR_INVALID_VALUE && strcmp(id, "0000") == 0);
    CHECK(cuDeviceGetPCIBusId(id, 0, 0) == CUDA_ERROR_INVALID_VALUE);

    static const struct {
        const char *id;
        CUresult r;
        CUdevice dev;
    } cases[] = {
        /* As the real driver answers them (test/real_driver_check.c). */
        {"00000001:c1:00.0", CUDA_SUCCESS, 1}, /* NVML's 8-digit domain */
        {"0001:C1:00.0", CUDA_SUCCESS, 1},     /* CUDA's 4-digit one, either case */
        {"0001:c1:00", CUDA_SUCCESS, 1},
        {"41:00.0", CUDA_SUCCESS, 0},          /* bus:device.function, domain 0 */
        {"0:41:0.0", CUDA_SUCCESS, 0},
        {"0000:41:00.1", CUDA_ERROR_INVALID_DEVICE, -1},
        {"0000:41:00.0\n", CUDA_ERROR_INVALID_VALUE, -1},
        {"0002:c1:00.0", CUDA_ERROR_INVALID_DEVICE, -1},
        {"0000:42:00.0", CUDA_ERROR_INVALID_DEVICE, -1},
        {"0001:c1", CUDA_ERROR_INVALID_VALUE, -1},
        {"000000001:c1:00.0", CUDA_ERROR_INVALID_VALUE, -1},
        {"0001:c1:00.0x", CUDA_ERROR_INVALID_VALUE, -1},
        {"zz", CUDA_ERROR_INVALID_VALUE, -1},
        {"", CUDA_ERROR_INVALID_VALUE, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CUdevice dev = -1;
        CUresult r = cuDeviceGetByPCIBusId(&dev, cases[i].id);
        if (r != cases[i].r || (r == CUDA_SUCCESS && dev != cases[i].dev)) {
            printf("FAIL cuDeviceGetByPCIBusId(\"%s\") = %d, device %d\n", cases[i].id, r, dev);
            failures++;
        }
    }
}

/* ---- error names ----------------------------------------------------------------------------- */

static void check_errors(const char *list_path)
{
    FILE *f = fopen(list_path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char want[128];
    int code, count = 0;
    while (fscanf(f, "%127s %d", want, &code) == 2) {
        const char *name = NULL, *text = NULL;
        count++;
        if (cuGetErrorName((CUresult)code, &name) != CUDA_SUCCESS || !name ||
            strcmp(name, want) != 0 || cuGetErrorString((CUresult)code, &text) != CUDA_SUCCESS ||
            !text || !*text) {
            printf("FAIL error %d: want %s, name %s\n", code, want, name ? name : "(none)");
            failures++;
        }
    }
    fclose(f);
    CHECK(count > 90);
    const char *s = "untouched";
    CHECK(cuGetErrorName((CUresult)12345, &s) == CUDA_ERROR_INVALID_VALUE && s == NULL);
    s = "untouched";
    CHECK(cuGetErrorString((CUresult)12345, &s) == CUDA_ERROR_INVALID_VALUE && s == NULL);
    CHECK(cuGetErrorString(CUDA_SUCCESS, NULL) == CUDA_ERROR_INVALID_VALUE);
}

/* ---- export tables --------------------------------------------------------------------------- */

static const void *const *table(const char *uuid_bytes)
{
    CUuuid id;
    memcpy(id.bytes, uuid_bytes, sizeof id.bytes);
    const void *t = NULL;
    return cuGetExportTable(&t, &id) == CUDA_SUCCESS ? t : NULL;
}

#define UUID_CUDART "\x6b\xd5\xfb\x6c\x5b\xf4\xe7\x4a\x89\x87\xd9\x39\x12\xfd\x9d\xf9"
#define UUID_HOOKS "\xa0\x94\x79\x8c\x2e\x74\x2e\x74\x93\xf2\x08\x00\x20\x0c\x0a\x66"
#define UUID_TOOLS_TLS "\x42\xd8\x5a\x81\x23\xf6\xcb\x47\x82\x98\xf6\xe7\x8a\x3a\xec\xdc"
#define UUID_STORAGE "\xc6\x93\x33\x6e\x11\x21\xdf\x11\xa8\xc3\x68\xf3\x55\xd8\x95\x93"
#define UUID_CHECKS "\x26\x3e\x88\x60\x7c\xd2\x61\x43\x92\xf6\xbb\xd5\x00\x6d\xfa\x7e"
#define UUID_INTEGRITY "\xd4\x08\x20\x55\xbd\xe6\x70\x4b\x8d\x34\xba\x12\x3c\x66\xe1\xf2"
#define UUID_CUDA13_NEW "\xf8\xcf\xf9\x51\x21\x46\x8b\x4e\xb9\xe2\xfb\x46\x9e\x7c\x0d\xd9"

typedef void (*hooks_fn)(void **buf, size_t *size);
typedef CUresult (*primary_fn)(CUcontext *pctx, CUdevice dev);
typedef CUresult (*check2_fn)(CUcontext ctx, unsigned *flags, const void **detail);
typedef unsigned (*check3_fn)(void);
typedef CUresult (*integrity_fn)(uint32_t version, uint64_t unix_time, uint64_t out[2]);

static void check_tables(void)
{
    const char *sized[] = {UUID_CUDART, UUID_HOOKS, UUID_TOOLS_TLS, UUID_CHECKS, UUID_INTEGRITY};
    for (size_t i = 0; i < sizeof sized / sizeof sized[0]; i++) {
        const void *const *t = table(sized[i]);
        CHECK(t && (uintptr_t)t[0] >= 2 * sizeof(void *) && (uintptr_t)t[0] % sizeof(void *) == 0);
    }
    CHECK(table(UUID_STORAGE) != NULL);
    CHECK(table(UUID_CUDA13_NEW) == NULL);
    CHECK(table("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10") == NULL);
    CUuuid id;
    memcpy(id.bytes, UUID_CUDART, 16);
    const void *t = &id;
    CHECK(cuGetExportTable(NULL, &id) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuGetExportTable(&t, NULL) == CUDA_ERROR_INVALID_VALUE);

    CUcontext a = NULL, b = NULL;
    primary_fn primary = (primary_fn)table(UUID_CUDART)[2];
    CHECK(primary(&a, 1) == CUDA_SUCCESS && a && cuDevicePrimaryCtxRetain(&b, 1) == CUDA_SUCCESS &&
          a == b && cuDevicePrimaryCtxRelease(1) == CUDA_SUCCESS);
    CHECK(primary(&a, 9) == CUDA_ERROR_INVALID_DEVICE);

    /* The real driver's sizes; but cudart reads [2] at 4 * runtime callback id (523 ids in 13.0),
     * past the size it is told, and all of that must read as zeros. */
    void *buf = NULL;
    size_t size = 0;
    ((hooks_fn)table(UUID_HOOKS)[2])(&buf, &size);
    CHECK(buf && size == 1024);
    int zeros = 1;
    for (size_t i = 0; buf && i < 523 * 4; i++)
        zeros &= ((unsigned char *)buf)[i] == 0;
    CHECK(zeros);
    ((hooks_fn)table(UUID_HOOKS)[6])(&buf, &size);
    CHECK(buf && size == 14);
    CHECK(((check3_fn)table(UUID_CHECKS)[3])() == 0);
}

/* Context checks [2]: NULL names the current context; there is none at first. */
static void check_context_checks(void)
{
    check2_fn check = (check2_fn)table(UUID_CHECKS)[2];
    unsigned flags = 7;
    const void *detail = &flags;
    CHECK(check(NULL, &flags, &detail) == CUDA_ERROR_INVALID_CONTEXT && flags == 7);
    CUcontext ctx = NULL;
    CHECK(cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS && cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
    CHECK(check(NULL, &flags, &detail) == CUDA_SUCCESS && flags == 0 && detail == &flags);
    flags = 7;
    CHECK(check(ctx, &flags, &detail) == CUDA_SUCCESS && flags == 0 && detail == &flags);
    CHECK(cuCtxSetCurrent(NULL) == CUDA_SUCCESS && cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS);
}

static void check_integrity(void)
{
    integrity_fn integrity = (integrity_fn)table(UUID_INTEGRITY)[1];
    uint64_t out[2] = {0}, again[2] = {0};
    CHECK(integrity(13000, 1700000000, out) == CUDA_SUCCESS && out[0] == 0x3341181c03cb675cULL &&
          out[1] == 0x8ed383aa1f4cd1e8ULL);
    CHECK(integrity(13001, 1700000000, out) == CUDA_SUCCESS && out[0] == 0x1841181c03cb675cULL);
    /* The HMAC answer itself is checked by cudart in run-probe.sh; here only its inputs matter. */
    CHECK(integrity(13002, 1700000000, out) == CUDA_SUCCESS);
    CHECK(integrity(13002, 1700000000, again) == CUDA_SUCCESS && memcmp(out, again, 16) == 0);
    CHECK(integrity(13002, 1700000001, again) == CUDA_SUCCESS && memcmp(out, again, 16) != 0);
    CHECK(integrity(12999, 1700000000, out) == CUDA_ERROR_NOT_SUPPORTED);
    CHECK(integrity(13000, 1700000000, NULL) == CUDA_ERROR_INVALID_VALUE);
}

/* ---- context-local storage ------------------------------------------------------------------- */

typedef void (*storage_dtor)(CUcontext ctx, void *key, void *value);
typedef CUresult (*put_fn)(CUcontext ctx, void *key, void *value, storage_dtor dtor);
typedef CUresult (*delete_fn)(CUcontext ctx, void *key);
typedef CUresult (*get_fn)(void **value, CUcontext ctx, void *key);

static put_fn storage_put;
static delete_fn storage_delete;
static get_fn storage_get;

static int destroyed;
static CUcontext destroyed_ctx;

static void count_destroyed(CUcontext ctx, void *key, void *value)
{
    destroyed += key == value; /* the tests store each key as its own value */
    destroyed_ctx = ctx;
}

static void *storage_worker(void *arg)
{
    CUcontext ctx = arg;
    char key; /* a key of its own, on a context shared with the other threads */
    for (int i = 0; i < 2000; i++) {
        void *value = NULL;
        if (storage_put(ctx, &key, &value, NULL) != CUDA_SUCCESS ||
            storage_get(&value, ctx, &key) != CUDA_SUCCESS || value != (void *)&value ||
            storage_delete(ctx, &key) != CUDA_SUCCESS ||
            storage_get(&value, ctx, &key) != CUDA_ERROR_INVALID_HANDLE)
            return (void *)1;
    }
    return NULL;
}

static void check_context_storage(void)
{
    const void *const *t = table(UUID_STORAGE);
    storage_put = (put_fn)t[0];
    storage_delete = (delete_fn)t[1];
    storage_get = (get_fn)t[2];
    static char key1, key2;
    void *value = NULL;

    /* NULL names the current context, and there is none yet. */
    CHECK(storage_get(&value, NULL, &key1) == CUDA_ERROR_INVALID_CONTEXT);
    CHECK(storage_put(NULL, &key1, &key1, NULL) == CUDA_ERROR_INVALID_CONTEXT);
    CHECK(storage_delete(NULL, &key1) == CUDA_ERROR_INVALID_CONTEXT);

    CUcontext ctx = NULL;
    CHECK(cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS && cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
    CHECK(storage_put(NULL, &key1, &key1, count_destroyed) == CUDA_SUCCESS); /* NULL: current */
    CHECK(storage_get(&value, ctx, &key1) == CUDA_SUCCESS && value == &key1);
    CHECK(storage_get(&value, NULL, &key2) == CUDA_ERROR_INVALID_HANDLE);
    CHECK(storage_put(ctx, &key2, &key2, count_destroyed) == CUDA_SUCCESS);
    CHECK(storage_delete(NULL, &key2) == CUDA_SUCCESS);
    CHECK(storage_delete(ctx, &key2) == CUDA_ERROR_INVALID_HANDLE);
    CHECK(destroyed == 0); /* delete is cudart's own clean-up: no destructor */

    pthread_t threads[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&threads[i], NULL, storage_worker, ctx) == 0);
    for (int i = 0; i < 8; i++) {
        void *bad = NULL;
        pthread_join(threads[i], &bad);
        CHECK(bad == NULL);
    }

    /* A context going away under cudart runs the destructors of what is left in it. */
    CHECK(storage_put(ctx, &key2, &key2, count_destroyed) == CUDA_SUCCESS);
    CHECK(cuDevicePrimaryCtxReset(0) == CUDA_SUCCESS);
    CHECK(destroyed == 2 && destroyed_ctx == ctx);
    CHECK(storage_get(&value, ctx, &key1) == CUDA_ERROR_INVALID_HANDLE);
    CHECK(cuCtxSetCurrent(NULL) == CUDA_SUCCESS && cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CURESULT_LIST\n", argv[0]);
        return 2;
    }
    check_before_init();
    CHECK(cuInit(0) == CUDA_SUCCESS);
    check_device_queries();
    check_pci_bus_ids();
    check_errors(argv[1]);
    check_tables();
    check_context_checks();
    check_integrity();
    check_context_storage();
    printf("shim: %s\n", failures ? "FAILED" : "ok (devices, errors, export tables, storage)");
    return failures != 0;
}
