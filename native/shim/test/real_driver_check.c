/*
 * Asks the REAL driver (needs a GPU) the questions the shim answers by itself, and prints the
 * answers next to the shim's: export table sizes and behaviours, the integrity check (the HMAC is
 * recomputed here from the real tables' addresses, which checks the hashed layout independently of
 * cudart), context-local storage, cuGetProcAddress misses and device-query edge cases. Run it on
 * each new toolkit/driver; a "DIFF" line names a fact in export_tables.c or devices.c to revisit.
 *
 *   cc -std=gnu11 -I$CUDA_HOME/include real_driver_check.c ../md2.c -ldl -o real_driver_check
 */
#include "../md2.h"

#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *driver;
static int diffs;

static void *sym(const char *name)
{
    void *p = dlsym(driver, name);
    if (!p) {
        printf("missing %s\n", name);
        _exit(2);
    }
    return p;
}

#define CALL(name, ...) ((CUresult(*)())sym(#name))(__VA_ARGS__)

static void same(const char *what, long long real, long long shim)
{
    printf("%-58s real %-12lld shim %-12lld%s\n", what, real, shim, real == shim ? "" : "  DIFF");
    diffs += real != shim;
}

static const void *const *table(const char *bytes)
{
    CUuuid id;
    memcpy(id.bytes, bytes, 16);
    const void *t = NULL;
    return CALL(cuGetExportTable, &t, &id) == CUDA_SUCCESS ? t : NULL;
}

#define UUID_CUDA13_NEW "\xf8\xcf\xf9\x51\x21\x46\x8b\x4e\xb9\xe2\xfb\x46\x9e\x7c\x0d\xd9"
#define UUID_CUDART "\x6b\xd5\xfb\x6c\x5b\xf4\xe7\x4a\x89\x87\xd9\x39\x12\xfd\x9d\xf9"
#define UUID_HOOKS "\xa0\x94\x79\x8c\x2e\x74\x2e\x74\x93\xf2\x08\x00\x20\x0c\x0a\x66"
#define UUID_TOOLS_TLS "\x42\xd8\x5a\x81\x23\xf6\xcb\x47\x82\x98\xf6\xe7\x8a\x3a\xec\xdc"
#define UUID_STORAGE "\xc6\x93\x33\x6e\x11\x21\xdf\x11\xa8\xc3\x68\xf3\x55\xd8\x95\x93"
#define UUID_CHECKS "\x26\x3e\x88\x60\x7c\xd2\x61\x43\x92\xf6\xbb\xd5\x00\x6d\xfa\x7e"
#define UUID_INTEGRITY "\xd4\x08\x20\x55\xbd\xe6\x70\x4b\x8d\x34\xba\x12\x3c\x66\xe1\xf2"

static void check_tables(void)
{
    static const struct {
        const char *name, *uuid;
        long long shim_slots; /* export_tables.c; 0: refused */
    } tables[] = {
        {"f8cff951 (new in 13)", UUID_CUDA13_NEW, 0}, {"cudart interface", UUID_CUDART, 13},
        {"callback hooks", UUID_HOOKS, 7},           {"tools TLS", UUID_TOOLS_TLS, 3},
        {"context checks", UUID_CHECKS, 15},          {"integrity", UUID_INTEGRITY, 3},
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const void *const *t = table(tables[i].uuid);
        long long slots = t ? (long long)((uintptr_t)t[0] / sizeof(void *)) : 0;
        char what[96];
        snprintf(what, sizeof what, "table %s: slots (size / 8)", tables[i].name);
        if (tables[i].shim_slots == 0) /* refused on purpose: no slot is called, cudart copes */
            printf("%-58s real %-12lld shim refuses it\n", what, slots);
        else
            same(what, slots, tables[i].shim_slots);
        for (long long s = 1; t && s < (long long)((uintptr_t)t[0] / sizeof(void *)) && s < 64; s++)
            printf("    slot %lld %s\n", s, t[s] ? "set" : "NULL");
    }
    CUuuid unknown;
    memset(unknown.bytes, 0x5a, 16);
    const void *t = NULL;
    same("cuGetExportTable(unknown uuid)", CALL(cuGetExportTable, &t, &unknown),
         CUDA_ERROR_INVALID_VALUE);

    void *buf;
    size_t size = 0;
    ((void (*)(void **, size_t *))table(UUID_HOOKS)[2])(&buf, &size);
    same("callback hooks [2] size", (long long)size, 1024);
    ((void (*)(void **, size_t *))table(UUID_HOOKS)[6])(&buf, &size);
    same("callback hooks [6] size", (long long)size, 14);

    same("context checks [3]", ((unsigned (*)(void))table(UUID_CHECKS)[3])(), 0);
}

/* [2] with no context, with a current one named by NULL, and with one named explicitly. */
static void check_context_checks(void)
{
    CUresult (*check)(CUcontext, unsigned *, const void **) = (void *)table(UUID_CHECKS)[2];
    unsigned flags = 77;
    const void *detail = &flags;
    same("context checks [2](NULL, none current) result", check(NULL, &flags, &detail),
         CUDA_ERROR_INVALID_CONTEXT);
    same("  leaves *flags", flags, 77);
    CUcontext ctx;
    CALL(cuDevicePrimaryCtxRetain, &ctx, 0);
    CALL(cuCtxSetCurrent, ctx);
    same("context checks [2](NULL, current) result", check(NULL, &flags, &detail), 0);
    same("  writes *flags", flags, 0);
    flags = 77;
    same("context checks [2](ctx) result", check(ctx, &flags, &detail), 0);
    same("  writes *flags", flags, 0);
    same("  leaves *detail (1 = untouched)", detail == &flags, 1);
    CALL(cuCtxSetCurrent, NULL);
    CALL(cuDevicePrimaryCtxRelease_v2, 0);
}

/* cudart-interface[2] must not retain: cudart calls it for every device at start-up. */
static void check_primary_context(void)
{
    CUcontext a = NULL, b = NULL;
    unsigned flags;
    int active = -1;
    CUresult r = ((CUresult(*)(CUcontext *, CUdevice))table(UUID_CUDART)[2])(&a, 0);
    same("cudart interface [2](device 0) result", r, 0);
    CALL(cuDevicePrimaryCtxGetState, 0, &flags, &active);
    same("  primary context active after [2]", active, 0);
    CALL(cuDevicePrimaryCtxRetain, &b, 0);
    same("  [2]'s handle == cuDevicePrimaryCtxRetain's", a == b, 1);
    CALL(cuDevicePrimaryCtxRelease_v2, 0);
}

typedef void (*dtor_fn)(CUcontext, void *, void *);
static int dtor_calls;
static void *dtor_args[3];
static void count_dtor(CUcontext ctx, void *key, void *value)
{
    dtor_calls++;
    dtor_args[0] = ctx, dtor_args[1] = key, dtor_args[2] = value;
}

static void check_context_storage(void)
{
    const void *const *t = table(UUID_STORAGE);
    CUresult (*put)(CUcontext, void *, void *, dtor_fn) = (void *)t[0];
    CUresult (*del)(CUcontext, void *) = (void *)t[1];
    CUresult (*get)(void **, CUcontext, void *) = (void *)t[2];
    static char key, key2;
    void *value = NULL;
    same("storage get, no current context", get(&value, NULL, &key), CUDA_ERROR_INVALID_CONTEXT);
    same("storage put, no current context", put(NULL, &key, &key, count_dtor),
         CUDA_ERROR_INVALID_CONTEXT);
    same("storage delete, no current context", del(NULL, &key), CUDA_ERROR_INVALID_CONTEXT);
    CUcontext ctx;
    CALL(cuDevicePrimaryCtxRetain, &ctx, 0);
    CALL(cuCtxSetCurrent, ctx);
    same("storage get, miss", get(&value, ctx, &key), CUDA_ERROR_INVALID_HANDLE);
    same("storage put(NULL = current)", put(NULL, &key, &key, count_dtor), 0);
    same("storage get(ctx) after put(NULL) hits", get(&value, ctx, &key) == 0 && value == &key, 1);
    same("storage delete", del(ctx, &key), 0);
    same("  destructor calls after delete", dtor_calls, 0);
    same("storage delete, missing", del(ctx, &key), CUDA_ERROR_INVALID_HANDLE);
    put(ctx, &key2, &key, count_dtor);
    CALL(cuCtxSetCurrent, NULL);
    CALL(cuDevicePrimaryCtxRelease_v2, 0); /* the last release destroys the context */
    same("  destructor calls after the context is destroyed", dtor_calls, 1);
    same("  destructor args are (ctx, key, value)",
         dtor_args[0] == ctx && dtor_args[1] == &key2 && dtor_args[2] == &key, 1);
}

/* The shim's HMAC layout, fed with the real tables' addresses. */
static void check_integrity(void)
{
    const void *const *iface = table(UUID_CUDART), *const *integ = table(UUID_INTEGRITY);
    CUresult (*fn)(uint32_t, uint64_t, uint64_t *) = (void *)integ[1];
    uint64_t out[2] = {0};
    uint64_t now = (uint64_t)time(NULL);
    fn(13000, now, out);
    same("integrity 13000 word 0 == 0x3341181c03cb675c", out[0] == 0x3341181c03cb675cULL, 1);
    same("integrity 13000 word 1 == 0x8ed383aa1f4cd1e8", out[1] == 0x8ed383aa1f4cd1e8ULL, 1);
    fn(13001, now, out);
    same("integrity 13001 word 0 == 0x1841181c03cb675c", out[0] == 0x1841181c03cb675cULL, 1);
    same("integrity 13002 result", fn(13002, now, out), 0);
    /* cudart 13.3 (inside cuDNN 9) asks 13030-13032: the client library answers them as 13000-13002. */
    out[0] = out[1] = 0;
    fn(13030, now, out);
    same("integrity 13030 == 13000's answer", out[0] == 0x3341181c03cb675cULL && out[1] == 0x8ed383aa1f4cd1e8ULL, 1);
    fn(13031, now, out);
    same("integrity 13031 word 0 == 13001's", out[0] == 0x1841181c03cb675cULL, 1);
    same("integrity 13032 result", fn(13032, now, out), 0);

    int driver_version = 0, n = 0;
    CALL(cuDriverGetVersion, &driver_version);
    struct __attribute__((packed)) {
        uint32_t driver_version, version, pid, thread;
        const void *iface, *integ, *fn;
        uint64_t time;
    } h = {(uint32_t)driver_version, 13002, (uint32_t)getpid(), (uint32_t)pthread_self(),
           iface, integ, (const void *)fn, now};
    static const uint8_t key[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                    0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};
    gp_hmac_md2 mac;
    gp_hmac_md2_init(&mac, key, sizeof key);
    gp_hmac_md2_update(&mac, &h, sizeof h);
    CALL(cuDeviceGetCount, &n);
    for (int d = 0; d < n; d++) {
        struct __attribute__((packed)) {
            CUuuid uuid;
            int32_t domain, bus, device;
        } rec;
        CALL(cuDeviceGetUuid_v2, &rec.uuid, d);
        CALL(cuDeviceGetAttribute, &rec.domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, d);
        CALL(cuDeviceGetAttribute, &rec.bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, d);
        CALL(cuDeviceGetAttribute, &rec.device, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, d);
        gp_hmac_md2_update(&mac, &rec, sizeof rec);
    }
    uint8_t digest[16];
    gp_hmac_md2_final(&mac, digest);
    same("integrity 13002 == shim's HMAC-MD2 layout", memcmp(digest, out, 16) == 0, 1);
}

static void check_queries(void)
{
    void *pfn = &pfn;
    CUdriverProcAddressQueryResult st = -1;
    same("cuGetProcAddress(\"\") result", CALL(cuGetProcAddress_v2, "", &pfn, 13000, 0ULL, &st), 0);
    same("  status", st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    same("  pfn NULL", pfn == NULL, 1);
    same("cuGetProcAddress(cuMemcpyBatchAsync, 12000) result",
         CALL(cuGetProcAddress_v2, "cuMemcpyBatchAsync", &pfn, 12000, 0ULL, &st), 0);
    same("  status", st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    same("11.3 cuGetProcAddress(\"nonexistent\") result",
         CALL(cuGetProcAddress, "cuNoSuchThing", &pfn, 13000, 0ULL), CUDA_ERROR_NOT_FOUND);
    same("cuGetProcAddress(cuInit, per-thread) falls back",
         CALL(cuGetProcAddress_v2, "cuInit", &pfn, 2000, 2ULL, &st) == 0 && pfn == sym("cuInit"), 1);
    same("cuGetProcAddress(cuMemcpy 7000, per-thread) is _ptds",
         CALL(cuGetProcAddress_v2, "cuMemcpy", &pfn, 7000, 2ULL, &st) == 0 &&
             pfn == sym("cuMemcpy_ptds"), 1);
    same("cuGetProcAddress(cuMemcpy 7000, default) is legacy",
         CALL(cuGetProcAddress_v2, "cuMemcpy", &pfn, 7000, 0ULL, &st) == 0 && pfn == sym("cuMemcpy"), 1);
    pfn = &pfn;
    st = 77;
    same("cuGetProcAddress(cuInit, 13010 > driver)",
         CALL(cuGetProcAddress_v2, "cuInit", &pfn, 13010, 0ULL, &st), CUDA_ERROR_INVALID_VALUE);
    same("  pfn untouched", pfn == (void *)&pfn, 1);
    same("  status (77 = untouched)", st, 77);
    same("cuGetProcAddress(flags 4)", CALL(cuGetProcAddress_v2, "cuInit", &pfn, 2000, 4ULL, &st),
         CUDA_ERROR_INVALID_VALUE);

    int v = 0;
    same("cuDeviceGetAttribute(0)", CALL(cuDeviceGetAttribute, &v, 0, 0), CUDA_ERROR_INVALID_VALUE);
    same("cuDeviceGetAttribute(MAX)", CALL(cuDeviceGetAttribute, &v, CU_DEVICE_ATTRIBUTE_MAX, 0),
         CUDA_ERROR_INVALID_VALUE);
    same("cuDeviceGetAttribute(bad device)", CALL(cuDeviceGetAttribute, &v, 1, 99),
         CUDA_ERROR_INVALID_DEVICE);
    char s[64], full[64];
    same("cuDeviceGetName(len 6) result", CALL(cuDeviceGetName, s, 6, 0), 0);
    CALL(cuDeviceGetName, full, (int)sizeof full, 0);
    same("  truncated to 5 characters", strlen(s) == 5 && strncmp(s, full, 5) == 0, 1);
    CALL(cuDeviceGetPCIBusId, full, (int)sizeof full, 0);
    printf("cuDeviceGetPCIBusId(0) = %s\n", full);
    same("  4-digit domain", strlen(full) == 12 && full[4] == ':', 1);
    for (int len = 4; len <= 13; len++) {
        memset(s, 'X', sizeof s);
        CUresult r = CALL(cuDeviceGetPCIBusId, s, len, 0);
        printf("cuDeviceGetPCIBusId(len %2d) -> %d \"%.20s\"\n", len, r, s);
    }
    unsigned dom, bus, dv;
    sscanf(full, "%x:%x:%x", &dom, &bus, &dv);
    const char *forms[] = {"%08x:%02x:%02x.0", "%04x:%02X:%02X.0", "%04x:%02x:%02x", "%02x:%02x.0",
                           "%x:%x:%x.0", "%04x:%02x:%02x.0\n", "%04x:%02x:%02x.1"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char id[40];
        snprintf(id, sizeof id, forms[i], i == 3 ? bus : dom, i == 3 ? dv : bus, dv);
        if (i == 3)
            snprintf(id, sizeof id, forms[i], bus, dv);
        CUdevice d = -1;
        CUresult r = CALL(cuDeviceGetByPCIBusId, &d, id);
        printf("cuDeviceGetByPCIBusId(\"%s\") -> %d, device %d\n", id, r, d);
    }
    const char *str = "x";
    same("cuGetErrorName(12345)", CALL(cuGetErrorName, (CUresult)12345, &str),
         CUDA_ERROR_INVALID_VALUE);
    same("  *pStr NULL", str == NULL, 1);
}

int main(void)
{
    driver = dlopen("libcuda.so.1", RTLD_NOW);
    if (!driver) {
        printf("no driver: %s\n", dlerror());
        return 2;
    }
    int n = -1, v = 0;
    same("cuDeviceGetCount before cuInit", CALL(cuDeviceGetCount, &n), CUDA_ERROR_NOT_INITIALIZED);
    same("cuDriverGetVersion before cuInit", CALL(cuDriverGetVersion, &v), 0);
    printf("driver version %d\n", v);
    if (CALL(cuInit, 0u) != CUDA_SUCCESS) {
        printf("cuInit failed\n");
        return 2;
    }
    check_tables();
    check_context_checks();
    check_primary_context();
    check_context_storage();
    check_integrity();
    check_queries();
    printf("%d difference(s)\n", diffs);
    return diffs != 0;
}
