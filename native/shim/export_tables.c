/*
 * cuGetExportTable: the driver's private tables that the CUDA runtime asks for by UUID before it does
 * anything else (shared/reference/cuda-driver-interface.md). Every slot depends on local state
 * (pointers, the pid, thread ids, this process's contexts), so all are answered here, none forwarded.
 *
 * A table is an array of pointer-sized slots; slot 0 holds the table's size in bytes (except in the
 * context-local-storage table, whose slot 0 is a function), the others function pointers. Only the
 * slots cudart 13 and cuBLASLt 13 were seen to call are filled; the rest are NULL.
 */
#include "shim.h"

#include "md2.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== Per-toolkit facts: RE-CHECK ALL OF THESE AGAINST EACH NEW CUDA TOOLKIT ====================
 * Observed with CUDA 13.0's cudart (static and shared). New releases add tables (the first UUID is
 * new in 13) and integrity-check versions. Wrong or missing ones make the program's first runtime
 * call fail: 35 when a table is missing, 103 when the integrity answer differs. test/run-probe.sh
 * shows which. UUIDs are written as their bytes in memory order. */

/* Asked for first, new in CUDA 13; its slots are never called and refusing it is tolerated. */
static const CUuuid UUID_CUDA13_UNKNOWN = {{0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e,
                                            0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9}};
static const CUuuid UUID_CUDART_INTERFACE = {{0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a,
                                              0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9}};
static const CUuuid UUID_CALLBACK_HOOKS = {{0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74,
                                            0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66}};
static const CUuuid UUID_TOOLS_TLS = {{0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47,
                                       0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc}};
static const CUuuid UUID_CONTEXT_STORAGE = {{0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11,
                                             0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93}};
static const CUuuid UUID_CONTEXT_CHECKS = {{0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43,
                                            0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e}};
static const CUuuid UUID_INTEGRITY = {{0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b,
                                       0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2}};

/* Asked for by cuBLASLt 13 (torch.matmul), after tools-TLS [2]. */
static const CUuuid UUID_CONTEXT_KEY = {{0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48,
                                         0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2}};

/* Slot counts (slot 0 / 8) of the real driver's tables (580.159.04, test/real_driver_check.c). */
#define CUDART_INTERFACE_SLOTS 13
#define CALLBACK_HOOKS_SLOTS 7
#define TOOLS_TLS_SLOTS 3
#define CONTEXT_STORAGE_SLOTS 4 /* no size slot; 3 functions and a NULL end */
#define CONTEXT_CHECKS_SLOTS 15
#define INTEGRITY_SLOTS 3
#define CONTEXT_KEY_SLOTS 5 /* not checked against the real driver: [4] is the last slot seen called */

/*
 * Callback hooks [2] and [6] hand cudart a zeroed buffer each, with the sizes the real driver reports.
 * [2] holds a 32-bit "a tool wants this callback" flag per runtime API callback id
 * (cupti_runtime_cbid.h: 523 ids in 13.0) and cudart reads it at 4 * id, beyond the reported 1024
 * bytes: nonzero memory there makes cudart call into the tools table (cudaGetDeviceProperties reads
 * id 440, offset 0x6e0). So both are backed by more zeroed memory than they report.
 */
#define HOOKS_BUFFER_2_REPORTED 1024
#define HOOKS_BUFFER_6_REPORTED 14
#define HOOKS_BUFFER_BACKING (4096 * 4) /* room for 4096 callback ids */

/*
 * Integrity check: versions come in threes per cudart release, the same three answers for each: the
 * first two fixed, the third HMAC-MD2 with this key (over the version asked). Seen: 13000-13002
 * (cudart 13.0), 13030-13032 (cudart 13.3, which cuDNN 9 for CUDA 13 links into itself).
 */
static const uint32_t INTEGRITY_RELEASES[] = {13000, 13030};
static const uint64_t INTEGRITY_FIXED_ANSWERS[2][2] = {
    {0x3341181c03cb675cULL, 0x8ed383aa1f4cd1e8ULL}, /* release + 0 */
    {0x1841181c03cb675cULL, 0x8ed383aa1f4cd1e8ULL}, /* release + 1 */
};
#define INTEGRITY_HMAC_OFFSET 2
static const uint8_t INTEGRITY_KEY[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                          0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};

/* ==== end of per-toolkit facts ================================================================= */

#define TABLE_SIZE(slots) ((const void *)(uintptr_t)((slots) * sizeof(void *)))
#define SLOT(fn) ((const void *)(fn))

/* Declared ahead: the integrity check hashes the addresses of two tables. */
static const void *const cudart_interface[CUDART_INTERFACE_SLOTS];
static const void *const integrity_table[INTEGRITY_SLOTS];

/* ---- cudart interface ------------------------------------------------------------------------ */

/* [2]: the device's primary context, retained; cudart's cudaSetDevice/first-call path. */
static CUresult cudart_primary_context(CUcontext *pctx, CUdevice dev)
{
    CUresult r = gp_primary_context(pctx, dev);
    gp_debug("cudart-interface[2](device %d) -> %d", dev, r);
    return r;
}

/* ---- callback hooks -------------------------------------------------------------------------- */

static _Alignas(16) unsigned char hooks_buffer_2[HOOKS_BUFFER_BACKING];
static _Alignas(16) unsigned char hooks_buffer_6[HOOKS_BUFFER_BACKING];

/* cudart fails its first call with 35 unless both buffers are handed out. */
static void hand_out(const char *slot, unsigned char *buffer, size_t size, void **buf, size_t *psize)
{
    if (buf)
        *buf = buffer;
    if (psize)
        *psize = size;
    gp_debug("callback-hooks[%s] -> %zu bytes", slot, size);
}

static void callback_hooks_2(void **buf, size_t *size)
{
    hand_out("2", hooks_buffer_2, HOOKS_BUFFER_2_REPORTED, buf, size);
}

static void callback_hooks_6(void **buf, size_t *size)
{
    hand_out("6", hooks_buffer_6, HOOKS_BUFFER_6_REPORTED, buf, size);
}

/* ---- context-local storage ------------------------------------------------------------------- */

/*
 * cudart keeps its per-context state here, keyed by (context, key). The destructor runs when the
 * context goes away under cudart (gp_context_storage_release), not when cudart deletes the entry
 * itself. Its (context, key, value) arguments follow public reverse engineering of the driver.
 */
typedef void (*storage_destructor)(CUcontext ctx, void *key, void *value);

typedef struct storage_entry {
    CUcontext ctx;
    void *key;
    void *value;
    storage_destructor dtor;
    struct storage_entry *next;
} storage_entry;

/* A short list (an entry per context per cudart instance), shared by all threads. */
static storage_entry *storage;
static pthread_mutex_t storage_lock = PTHREAD_MUTEX_INITIALIZER;

/* The link pointing at the (ctx, key) entry, or at the list's NULL end. Caller holds the lock. */
static storage_entry **storage_find(CUcontext ctx, const void *key)
{
    storage_entry **link = &storage;
    while (*link && ((*link)->ctx != ctx || (*link)->key != key))
        link = &(*link)->next;
    return link;
}

/* NULL names the calling thread's current context; with none, the driver answers 201. */
static CUcontext context_or_current(CUcontext ctx)
{
    return ctx ? ctx : gp_current_context();
}

/* [0] */
static CUresult storage_put(CUcontext ctx, void *key, void *value, storage_destructor dtor)
{
    ctx = context_or_current(ctx);
    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    CUresult r = CUDA_SUCCESS;
    pthread_mutex_lock(&storage_lock);
    storage_entry **link = storage_find(ctx, key);
    if (!*link && (*link = calloc(1, sizeof **link)) != NULL) {
        (*link)->ctx = ctx;
        (*link)->key = key;
    }
    if (*link) {
        (*link)->value = value; /* a second put for the same key replaces the first */
        (*link)->dtor = dtor;
    } else {
        r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_unlock(&storage_lock);
    gp_debug("context-storage put(%p, %p) -> %d", (void *)ctx, key, r);
    return r;
}

/* [1] */
static CUresult storage_delete(CUcontext ctx, void *key)
{
    ctx = context_or_current(ctx);
    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    pthread_mutex_lock(&storage_lock);
    storage_entry **link = storage_find(ctx, key), *gone = *link;
    if (gone)
        *link = gone->next;
    pthread_mutex_unlock(&storage_lock);
    free(gone);
    gp_debug("context-storage delete(%p, %p) -> %s", (void *)ctx, key, gone ? "deleted" : "absent");
    return gone ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* [2] A miss must be CUDA_ERROR_INVALID_HANDLE: that is what makes cudart create its state and put. */
static CUresult storage_get(void **value, CUcontext ctx, void *key)
{
    if (!value)
        return CUDA_ERROR_INVALID_VALUE;
    ctx = context_or_current(ctx);
    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    pthread_mutex_lock(&storage_lock);
    storage_entry *e = *storage_find(ctx, key);
    if (e)
        *value = e->value;
    pthread_mutex_unlock(&storage_lock);
    gp_debug("context-storage get(%p, %p) -> %s", (void *)ctx, key, e ? "hit" : "miss");
    return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

void gp_context_storage_release(CUcontext ctx)
{
    /* Unlink under the lock, run the destructors outside it: they may call back into the table. */
    storage_entry *released = NULL;
    pthread_mutex_lock(&storage_lock);
    for (storage_entry **link = &storage; *link;) {
        storage_entry *e = *link;
        if (e->ctx == ctx) {
            *link = e->next;
            e->next = released;
            released = e;
        } else {
            link = &e->next;
        }
    }
    pthread_mutex_unlock(&storage_lock);
    while (released) {
        storage_entry *e = released;
        released = e->next;
        gp_debug("context-storage release(%p, %p)", (void *)ctx, e->key);
        if (e->dtor)
            e->dtor(ctx, e->key, e->value);
        free(e);
    }
}

/* ---- context checks -------------------------------------------------------------------------- */

/* [2]: as the real driver, 0 in *flags and *detail left as it was; NULL is the current context. */
static CUresult context_check(CUcontext ctx, unsigned *flags, const void **detail)
{
    (void)detail;
    ctx = context_or_current(ctx);
    if (ctx && flags)
        *flags = 0;
    gp_debug("context-checks[2](%p) -> %s", (void *)ctx, ctx ? "0" : "no context");
    return ctx ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* [3] */
static unsigned context_checks_3(void)
{
    gp_debug("context-checks[3] -> 0");
    return 0;
}

/* ---- integrity check ------------------------------------------------------------------------- */

/* What the newest version hashes, byte for byte as cudart lays it out (hence packed). */
typedef struct __attribute__((packed)) integrity_header {
    uint32_t driver_version;
    uint32_t version;
    uint32_t pid;
    uint32_t thread;                /* pthread_self(), truncated */
    const void *cudart_interface;
    const void *integrity_table;
    const void *integrity_function; /* integrity_table[1] */
    uint64_t unix_time;
} integrity_header;

typedef struct __attribute__((packed)) integrity_device {
    uint8_t uuid[16];
    int32_t pci_domain, pci_bus, pci_device;
} integrity_device;

_Static_assert(sizeof(integrity_header) == 16 + 3 * sizeof(void *) + 8, "integrity header packing");
_Static_assert(sizeof(integrity_device) == 28, "integrity device record packing");

static CUresult integrity_check(uint32_t version, uint64_t unix_time, uint64_t out[2]);

/* The device records come from the same registry that answers cuDeviceGetUuid and the attributes. */
static void integrity_hmac(uint32_t version, uint64_t unix_time, uint64_t out[2])
{
    integrity_header header = {
        .driver_version = GP_DRIVER_VERSION,
        .version = version,
        .pid = (uint32_t)getpid(),
        .thread = (uint32_t)pthread_self(),
        .cudart_interface = cudart_interface,
        .integrity_table = integrity_table,
        .integrity_function = SLOT(integrity_check),
        .unix_time = unix_time,
    };
    gp_hmac_md2 mac;
    gp_hmac_md2_init(&mac, INTEGRITY_KEY, sizeof INTEGRITY_KEY);
    gp_hmac_md2_update(&mac, &header, sizeof header);
    for (int i = 0; i < gp_device_count(); i++) {
        const gp_device *d = gp_device_get(i);
        integrity_device record = {.pci_domain = d->pci_domain,
                                   .pci_bus = d->pci_bus,
                                   .pci_device = d->pci_device};
        memcpy(record.uuid, d->uuid, sizeof record.uuid);
        gp_hmac_md2_update(&mac, &record, sizeof record);
    }
    uint8_t digest[GP_MD2_DIGEST_SIZE];
    gp_hmac_md2_final(&mac, digest);
    memcpy(out, digest, sizeof digest);
}

/* [1]: cudart computes the same answer itself and fails with 103 when they differ. */
static CUresult integrity_check(uint32_t version, uint64_t unix_time, uint64_t out[2])
{
    CUresult r = CUDA_ERROR_NOT_SUPPORTED; /* a newer cudart: the facts above need re-checking */
    for (size_t i = 0; i < sizeof INTEGRITY_RELEASES / sizeof INTEGRITY_RELEASES[0]; i++) {
        uint32_t offset = version - INTEGRITY_RELEASES[i];
        if (version < INTEGRITY_RELEASES[i] || offset > INTEGRITY_HMAC_OFFSET)
            continue;
        if (!out)
            r = CUDA_ERROR_INVALID_VALUE;
        else if (offset == INTEGRITY_HMAC_OFFSET)
            integrity_hmac(version, unix_time, out), r = CUDA_SUCCESS;
        else
            memcpy(out, INTEGRITY_FIXED_ANSWERS[offset], sizeof INTEGRITY_FIXED_ANSWERS[offset]), r = CUDA_SUCCESS;
        break;
    }
    gp_debug("integrity[1](version %u) -> %d", (unsigned)version, r);
    return r;
}

/* ---- the tables ------------------------------------------------------------------------------ */

static const void *const cudart_interface[CUDART_INTERFACE_SLOTS] = {
    [0] = TABLE_SIZE(CUDART_INTERFACE_SLOTS),
    [2] = SLOT(cudart_primary_context),
};

static const void *const callback_hooks[CALLBACK_HOOKS_SLOTS] = {
    [0] = TABLE_SIZE(CALLBACK_HOOKS_SLOTS),
    [2] = SLOT(callback_hooks_2),
    [6] = SLOT(callback_hooks_6),
};

/*
 * [2]: cuBLASLt 13 (cublasLtMatmulAlgoGetHeuristic, under every torch.matmul) calls it with one
 * out-pointer, then hands what it got to slot [4] of the context-key table below and caches its
 * heuristics under the key that returns. NULL here was a jump to address 0; refused, cuBLASLt answers
 * CUBLAS_STATUS_NOT_SUPPORTED. It is answered with the calling thread's current context.
 */
static CUresult tools_tls_2(CUcontext *out)
{
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    *out = gp_current_context();
    gp_debug("tools thread-local storage[2] -> %p", (void *)*out);
    return CUDA_SUCCESS;
}

/* cudart asks for it and requires it, but calls none of its slots; cuBLASLt calls [2]. */
static const void *const tools_tls[TOOLS_TLS_SLOTS] = {
    [0] = TABLE_SIZE(TOOLS_TLS_SLOTS),
    [2] = SLOT(tools_tls_2),
};

/* No size slot: slot 0 is put. */
static const void *const context_storage[CONTEXT_STORAGE_SLOTS] = {
    [0] = SLOT(storage_put),
    [1] = SLOT(storage_delete),
    [2] = SLOT(storage_get),
};

static const void *const context_checks[CONTEXT_CHECKS_SLOTS] = {
    [0] = TABLE_SIZE(CONTEXT_CHECKS_SLOTS),
    [2] = SLOT(context_check),
    [3] = SLOT(context_checks_3),
};

static const void *const integrity_table[INTEGRITY_SLOTS] = {
    [0] = TABLE_SIZE(INTEGRITY_SLOTS),
    [1] = SLOT(integrity_check),
};

/*
 * [4]: cuBLASLt's key for a context (what tools-TLS [2] handed out) in its per-context cache of GEMM
 * heuristics; only its uniqueness matters there. The context's handle is that key: the client library
 * names each context it made by a handle of its own.
 */
static CUresult context_key(CUcontext ctx, uint64_t *key)
{
    if (!key)
        return CUDA_ERROR_INVALID_VALUE;
    *key = (uint64_t)(uintptr_t)ctx;
    gp_debug("context key[4](%p)", (void *)ctx);
    return CUDA_SUCCESS;
}

static const void *const context_key_table[CONTEXT_KEY_SLOTS] = {
    [0] = TABLE_SIZE(CONTEXT_KEY_SLOTS),
    [4] = SLOT(context_key),
};

static const struct {
    const CUuuid *id;
    const void *const *table;
    const char *role;
} TABLES[] = {
    {&UUID_CUDART_INTERFACE, cudart_interface, "cudart interface"},
    {&UUID_CALLBACK_HOOKS, callback_hooks, "callback hooks"},
    {&UUID_TOOLS_TLS, tools_tls, "tools thread-local storage"},
    {&UUID_CONTEXT_STORAGE, context_storage, "context-local storage"},
    {&UUID_CONTEXT_CHECKS, context_checks, "context checks"},
    {&UUID_INTEGRITY, integrity_table, "integrity check"},
    {&UUID_CONTEXT_KEY, context_key_table, "context key"},
};

static void log_request(const CUuuid *id, const char *answer)
{
    const unsigned char *b = (const unsigned char *)id->bytes;
    gp_debug("cuGetExportTable(%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x) "
             "-> %s", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15], answer);
}

CUresult gp_get_export_table(const void **table, const CUuuid *id)
{
    if (!table || !id)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++) {
        if (memcmp(TABLES[i].id->bytes, id->bytes, sizeof id->bytes) == 0) {
            *table = TABLES[i].table;
            log_request(id, TABLES[i].role);
            return CUDA_SUCCESS;
        }
    }
    *table = NULL;
    int known = memcmp(UUID_CUDA13_UNKNOWN.bytes, id->bytes, sizeof id->bytes) == 0;
    log_request(id, known ? "refused (new in CUDA 13, not needed)" : "refused (unknown)");
    return CUDA_ERROR_INVALID_VALUE;
}
