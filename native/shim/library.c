/*
 * Libraries and their kernels (CUDA 12's context-free modules). One CUlibrary or CUkernel handle must
 * work on every device of the job, and the devices may sit on several daemons: so the client keeps the
 * library's image and hands out handles of its own, and loads the library on a daemon the first time a
 * call there needs it (cudart loads a library once and uses its kernels on every device).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client.h"
#include "custom.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "shim.h"

#define MAX_SERVERS 64
/* Handles of this file: daemon tag 0xffff (no daemon has it), then the kind, then an index. */
#define VIRTUAL_TAG (UINT64_C(0xffff) << 48)
#define KIND_SHIFT 40
#define KIND_LIBRARY UINT64_C(1)
#define KIND_KERNEL UINT64_C(2)

typedef struct {
    unsigned char *image;
    size_t size;
    CUlibrary on[MAX_SERVERS];
    int unloaded;
} library;

typedef struct {
    size_t lib;
    char *name;
    CUkernel on[MAX_SERVERS];
} kernel;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static library **g_libs;
static size_t g_lib_count, g_lib_cap;
static kernel **g_kernels;
static size_t g_kernel_count, g_kernel_cap;

static void *handle_of(uint64_t kind, size_t index)
{
    return (void *)(uintptr_t)(VIRTUAL_TAG | (kind << KIND_SHIFT) | (uint64_t)index);
}

/* The index behind a handle of this kind, or -1. */
static long index_of(const void *handle, uint64_t kind, size_t count)
{
    uint64_t v = (uint64_t)(uintptr_t)handle;
    if ((v & (UINT64_C(0xffff) << 48)) != VIRTUAL_TAG || ((v >> KIND_SHIFT) & 0xff) != kind)
        return -1;
    uint64_t index = v & ((UINT64_C(1) << KIND_SHIFT) - 1);
    return index < count ? (long)index : -1;
}

static int grow(void ***array, size_t *cap, size_t count)
{
    if (count < *cap)
        return 0;
    size_t next = *cap ? *cap * 2 : 16;
    void **p = realloc(*array, next * sizeof *p);
    if (p == NULL)
        return -1;
    *array = p;
    *cap = next;
    return 0;
}

/* Where a call that names no device goes: the current context's daemon, else the first. */
static int current_server(void)
{
    int server = gp_context_server(gp_tls_context());
    return server >= 0 ? server : 0;
}

/* The library as loaded on that daemon, loading it there first if needed. Lock held. */
static CUresult library_on(library *lib, int server, CUlibrary *out)
{
    if (lib->unloaded)
        return CUDA_ERROR_INVALID_HANDLE;
    if (server < 0 || server >= MAX_SERVERS || server >= gp_server_count())
        return CUDA_ERROR_INVALID_CONTEXT;
    if (lib->on[server] == NULL) {
        CUresult rc = gp_load_image_on(GP_OP_cuLibraryLoadData_v12000, server, (void **)&lib->on[server], lib->image, lib->size);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    *out = lib->on[server];
    return CUDA_SUCCESS;
}

static CUresult kernel_on(kernel *k, int server, CUkernel *out)
{
    if (server < 0 || server >= MAX_SERVERS)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (k->on[server] == NULL) {
        CUlibrary lib;
        CUresult rc = library_on(g_libs[k->lib], server, &lib);
        if (rc == CUDA_SUCCESS)
            rc = gp_std_cuLibraryGetKernel_v12000(&k->on[server], lib, k->name);
        if (rc != CUDA_SUCCESS)
            return rc;
    }
    *out = k->on[server];
    return CUDA_SUCCESS;
}

CUresult gp_fwd_cuLibraryLoadData_v12000(CUlibrary *out, const void *code, CUjit_option *jitOptions, void **jitOptionsValues,
                                         unsigned int numJitOptions, CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                         unsigned int numLibraryOptions)
{
    /* Options stay here: each daemon's copy of the image is its own (BINARY_IS_PRESERVED cannot apply). */
    (void)jitOptions, (void)jitOptionsValues, (void)numJitOptions, (void)libraryOptions, (void)libraryOptionValues, (void)numLibraryOptions;
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (out == NULL || code == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    const void *image = code;
    size_t size = gp_image_size(&image);
    library *lib = calloc(1, sizeof *lib);
    if (lib == NULL || (lib->image = malloc(size)) == NULL) {
        free(lib);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memcpy(lib->image, image, size);
    lib->size = size;
    pthread_mutex_lock(&g_lock);
    /* Loaded once where the caller is now, so that a bad image fails here and not at a later launch. */
    CUlibrary first;
    CUresult rc = library_on(lib, current_server(), &first);
    if (rc == CUDA_SUCCESS && grow((void ***)&g_libs, &g_lib_cap, g_lib_count) != 0)
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    if (rc == CUDA_SUCCESS) {
        g_libs[g_lib_count] = lib;
        *out = handle_of(KIND_LIBRARY, g_lib_count++);
    } else {
        free(lib->image);
        free(lib);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

CUresult gp_fwd_cuLibraryUnload_v12000(CUlibrary handle)
{
    pthread_mutex_lock(&g_lock);
    long i = index_of(handle, KIND_LIBRARY, g_lib_count);
    CUresult rc = i < 0 || g_libs[i]->unloaded ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
    if (rc == CUDA_SUCCESS) {
        library *lib = g_libs[i];
        for (int s = 0; s < MAX_SERVERS; s++)
            if (lib->on[s] != NULL)
                (void)gp_std_cuLibraryUnload_v12000(lib->on[s]);
        lib->unloaded = 1;
        free(lib->image);
        lib->image = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

CUresult gp_fwd_cuLibraryGetKernel_v12000(CUkernel *pKernel, CUlibrary handle, const char *name)
{
    if (pKernel == NULL || name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    long li = index_of(handle, KIND_LIBRARY, g_lib_count);
    CUresult rc = li < 0 ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
    size_t found = g_kernel_count;
    for (size_t k = 0; rc == CUDA_SUCCESS && k < g_kernel_count && found == g_kernel_count; k++)
        if (g_kernels[k]->lib == (size_t)li && strcmp(g_kernels[k]->name, name) == 0)
            found = k;
    if (rc == CUDA_SUCCESS && found == g_kernel_count) {
        kernel *k = calloc(1, sizeof *k);
        CUkernel probe;
        if (k == NULL || (k->name = strdup(name)) == NULL || grow((void ***)&g_kernels, &g_kernel_cap, g_kernel_count) != 0) {
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        } else {
            k->lib = (size_t)li;
            /* Asked where the caller is now, so an unknown name fails here as on a real driver. */
            rc = kernel_on(k, current_server(), &probe);
        }
        if (rc == CUDA_SUCCESS)
            g_kernels[g_kernel_count++] = k;
        else if (k != NULL)
            free(k->name), free(k);
    }
    if (rc == CUDA_SUCCESS)
        *pKernel = handle_of(KIND_KERNEL, found);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

CUresult gp_kernel_for_server(const void *handle, int server, const void **real)
{
    pthread_mutex_lock(&g_lock);
    long i = index_of(handle, KIND_KERNEL, g_kernel_count);
    CUresult rc = CUDA_SUCCESS;
    if (i < 0)
        *real = handle; /* a CUfunction, or a handle the daemon will judge */
    else
        rc = kernel_on(g_kernels[i], server, (CUkernel *)real);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* The kernel on the daemon the call goes to: the device's, or else the current context's. */
static CUresult resolve(CUkernel handle, int server, CUkernel *real)
{
    const void *r;
    CUresult rc = gp_kernel_for_server(handle, server, &r);
    *real = (CUkernel)r;
    return rc;
}

static int device_server(CUdevice dev)
{
    const gp_device *d = gp_device_get(dev);
    return d ? d->server : -1;
}

CUresult gp_fwd_cuKernelGetFunction_v12000(CUfunction *pFunc, CUkernel kernel)
{
    CUkernel real;
    CUresult rc = resolve(kernel, current_server(), &real);
    return rc == CUDA_SUCCESS ? gp_std_cuKernelGetFunction_v12000(pFunc, real) : rc;
}

CUresult gp_function_of(CUfunction *func)
{
    pthread_mutex_lock(&g_lock);
    long i = index_of(*func, KIND_KERNEL, g_kernel_count);
    pthread_mutex_unlock(&g_lock);
    return i < 0 ? CUDA_SUCCESS : gp_fwd_cuKernelGetFunction_v12000(func, (CUkernel)*func);
}

CUresult gp_fwd_cuKernelGetParamInfo_v12040(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize)
{
    CUkernel real;
    CUresult rc = resolve(kernel, current_server(), &real);
    return rc == CUDA_SUCCESS ? gp_std_cuKernelGetParamInfo_v12040(real, paramIndex, paramOffset, paramSize) : rc;
}

/* The kernel as loaded on the daemon of device dev. */
static CUresult resolve_on_device(CUkernel kernel, CUdevice dev, CUkernel *real)
{
    int server = device_server(dev);
    return server < 0 ? CUDA_ERROR_INVALID_DEVICE : resolve(kernel, server, real);
}

CUresult gp_fwd_cuKernelGetAttribute_v12000(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
    CUkernel real;
    CUresult rc = resolve_on_device(kernel, dev, &real);
    return rc == CUDA_SUCCESS ? gp_std_cuKernelGetAttribute_v12000(pi, attrib, real, dev) : rc;
}

CUresult gp_fwd_cuKernelSetAttribute_v12000(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
    CUkernel real;
    CUresult rc = resolve_on_device(kernel, dev, &real);
    return rc == CUDA_SUCCESS ? gp_std_cuKernelSetAttribute_v12000(attrib, val, real, dev) : rc;
}

CUresult gp_fwd_cuKernelSetCacheConfig_v12000(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
    CUkernel real;
    CUresult rc = resolve_on_device(kernel, dev, &real);
    return rc == CUDA_SUCCESS ? gp_std_cuKernelSetCacheConfig_v12000(real, config, dev) : rc;
}

/* A variable of the library as loaded on the current context's daemon. */
CUresult gp_fwd_cuLibraryGetGlobal_v12000(CUdeviceptr *dptr, size_t *bytes, CUlibrary handle, const char *name)
{
    pthread_mutex_lock(&g_lock);
    long i = index_of(handle, KIND_LIBRARY, g_lib_count);
    CUlibrary real = NULL;
    CUresult rc = i < 0 ? CUDA_ERROR_INVALID_HANDLE : library_on(g_libs[i], current_server(), &real);
    pthread_mutex_unlock(&g_lock);
    return rc == CUDA_SUCCESS ? gp_std_cuLibraryGetGlobal_v12000(dptr, bytes, real, name) : rc;
}

CUresult gp_fwd_cuLibraryGetModule_v12000(CUmodule *pMod, CUlibrary handle)
{
    pthread_mutex_lock(&g_lock);
    long i = index_of(handle, KIND_LIBRARY, g_lib_count);
    CUlibrary real = NULL;
    CUresult rc = i < 0 ? CUDA_ERROR_INVALID_HANDLE : library_on(g_libs[i], current_server(), &real);
    pthread_mutex_unlock(&g_lock);
    return rc == CUDA_SUCCESS ? gp_std_cuLibraryGetModule_v12000(pMod, real) : rc;
}
