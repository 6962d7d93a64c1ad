/*
 * gpupool's client library (built as libcuda.so.1): the interfaces between its parts.
 *
 *   devices.c        the pool's devices as the daemons described them at connection (answered locally)
 *   procaddress.c    cuGetProcAddress: (name, version, flags) -> entry point, from the generated table
 *   export_tables.c  cuGetExportTable: the private tables cudart asks for, answered locally
 *   md2.c            MD2 (RFC 1319), for the integrity check's HMAC
 *   transport/...    connections to the daemons, frames, calls (later parts)
 *   gen/...          forwarding stubs generated from the annotated API table (src/protocol)
 */
#ifndef GPUPOOL_SHIM_H
#define GPUPOOL_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* The library implements deprecated entry points too; taking their addresses must not warn. */
#define CUDA_ENABLE_DEPRECATED 1
#include <cuda.h>

#define GP_EXPORT __attribute__((visibility("default")))

/* The driver version the library reports (cuDriverGetVersion) and hashes (the integrity check). */
#define GP_DRIVER_VERSION 13000

/*
 * The most host data one frame of a linear copy carries (copies.c), and what a message of several
 * frames holds at most before it is sent (conn.c): every message stays far below the daemon's
 * compute.maxMessageBytes, whatever size a program copies (docs/protocol.md, "Limits").
 */
#define GP_COPY_SLICE ((size_t)16 << 20)
#define GP_BATCH_BYTES ((size_t)16 << 20)

/* ---- initialisation (next to cuInit; the shim's test harness provides its own) --------------- */

/* Nonzero once cuInit has succeeded; device queries answer CUDA_ERROR_NOT_INITIALIZED before. */
int gp_initialized(void);

/* ---- devices ------------------------------------------------------------------------------- */

/* CU_DEVICE_ATTRIBUTE_MAX in CUDA 13's cuda.h is below this; attributes at or past it are invalid. */
#define GP_MAX_ATTRIBUTES 256

typedef struct gp_device {
    char name[256];
    unsigned char uuid[16];      /* as cuDeviceGetUuid reports it */
    int pci_domain, pci_bus, pci_device;
    size_t total_mem;            /* bytes, as cuDeviceTotalMem reports it */
    int attributes[GP_MAX_ATTRIBUTES]; /* indexed by CUdevice_attribute */
    unsigned char attribute_known[GP_MAX_ATTRIBUTES];
    int server;                  /* which daemon connection serves it */
    int remote_ordinal;          /* its ordinal on that daemon */
} gp_device;

/*
 * Replaces the device list with a copy of devs[0..n-1] (the transport layer calls it when the
 * daemons have described their cards, before cuInit returns). The PCI attributes (domain, bus,
 * device ids) are set from pci_* so that every answer, and the integrity check, agrees. Not safe
 * against concurrent gp_device_get: pointers it returned earlier become invalid.
 */
void gp_devices_set(const gp_device *devs, int n);
/* Devices are numbered 0..n-1 in the order the servers list them (GPUPOOL_SERVERS order). */
int gp_device_count(void);
/* NULL when ordinal is out of range. */
const gp_device *gp_device_get(int ordinal);

/* ---- contexts (the parts export_tables.c needs) --------------------------------------------- */

/* The calling thread's current context, or NULL. */
CUcontext gp_current_context(void);
/*
 * The device's primary context handle (the one cuDevicePrimaryCtxRetain returns), neither retained
 * nor activated: cudart-interface[2] asks for it for every device while cudart starts, and makes it
 * current before it calls cuDevicePrimaryCtxRetain, so this must not create anything on the device.
 */
CUresult gp_primary_context(CUcontext *pctx, CUdevice dev);
/* Runs the context-local-storage destructors of ctx; the context code calls it on destroy/reset. */
void gp_context_storage_release(CUcontext ctx);

/* ---- cuGetProcAddress ------------------------------------------------------------------------ */

typedef struct gp_proc_entry {
    const char *name;     /* e.g. "cuMemAlloc" */
    int version;          /* the PFN_<name>_v<version> it implements */
    int per_thread;       /* 1: the _ptsz/_ptds variant */
    void *fn;
} gp_proc_entry;

/* The generated table, sorted by name (strcmp order) then version. */
extern const gp_proc_entry gp_proc_table[];
extern const size_t gp_proc_table_size;
/* The calls not carried, sorted the same way: their stubs say so when used (gp_not_carried_once). */
extern const gp_proc_entry gp_unsup_table[];
extern const size_t gp_unsup_table_size;

/* ---- export tables --------------------------------------------------------------------------- */

/* cuGetExportTable's answer: the private table with that UUID, CUDA_ERROR_INVALID_VALUE otherwise. */
CUresult gp_get_export_table(const void **table, const CUuuid *id);

/* ---- logging --------------------------------------------------------------------------------- */

/* One line to stderr, prefixed "gpupool: ", only when GPUPOOL_DEBUG is set, except warn/once. */
void gp_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line to stderr, prefixed "gpupool: ", always: what the job's user must see (a refused connection). */
void gp_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs "gpupool: <symbol> is not carried by gpupool ..." once per symbol (a string literal). */
void gp_not_carried_once(const char *symbol);

#endif
