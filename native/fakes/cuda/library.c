/*
 * Libraries (cuLibraryLoadData: how cudart loads its fatbins) and their kernels. As on the real
 * driver a library belongs to no context: it lives until cuLibraryUnload. Its per-context modules
 * are made on demand and freed with their context or with the library.
 */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

static void free_kernel(CUkernel k)
{
    emu_list_del(&k->link);
    emu_handle_remove(k);
    free((char *)k->entry.name);
    free(k);
}

static void free_library(CUlibrary lib)
{
    EMU_FOR_EACH_SAFE (pos, &lib->modules)
        emu_module_free(EMU_CONTAINER(pos, struct CUmod_st, lib_link));
    EMU_FOR_EACH_SAFE (pos, &lib->kernels)
        free_kernel(EMU_CONTAINER(pos, struct CUkern_st, link));
    emu_list_del(&lib->link);
    emu_handle_remove(lib);
    emu_image_free(&lib->image);
    emu_g.stats.libraries--;
    free(lib);
}

void emu_free_libraries(void)
{
    EMU_FOR_EACH_SAFE (pos, &emu_g.libraries)
        free_library(EMU_CONTAINER(pos, struct CUlib_st, link));
}

CUresult emu_library_module(CUlibrary lib, CUcontext ctx, CUmodule *out)
{
    EMU_FOR_EACH (pos, &lib->modules) {
        CUmodule mod = EMU_CONTAINER(pos, struct CUmod_st, lib_link);
        if (mod->ctx == ctx) {
            *out = mod;
            return CUDA_SUCCESS;
        }
    }
    return emu_module_new(ctx, &lib->image, lib, out);
}

/* ---- loading -------------------------------------------------------------------------------- */

static CUresult load(CUlibrary *library, const void *code, size_t size)
{
    if (library == NULL || code == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    CUlibrary lib = calloc(1, sizeof *lib);
    if (lib == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    rc = emu_image_parse(code, size, &lib->image);
    if (rc == CUDA_SUCCESS && !emu_handle_add(lib, EMU_H_LIBRARY)) {
        emu_image_free(&lib->image);
        rc = CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (rc != CUDA_SUCCESS) {
        free(lib);
        return emu_leave(rc);
    }
    emu_list_init(&lib->kernels);
    emu_list_init(&lib->modules);
    emu_list_add(&emu_g.libraries, &lib->link);
    emu_g.stats.libraries++;
    *library = lib;
    return emu_leave(CUDA_SUCCESS);
}

/* JIT and library options change nothing here (no code is compiled or kept). */
CUresult CUDAAPI cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                   void **jitOptionsValues, unsigned int numJitOptions,
                                   CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                   unsigned int numLibraryOptions)
{
    (void)jitOptions;
    (void)jitOptionsValues;
    (void)numJitOptions;
    (void)libraryOptions;
    (void)libraryOptionValues;
    (void)numLibraryOptions;
    return load(library, code, 0);
}

CUresult CUDAAPI cuLibraryLoadFromFile(CUlibrary *library, const char *fileName, CUjit_option *jitOptions,
                                       void **jitOptionsValues, unsigned int numJitOptions,
                                       CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                       unsigned int numLibraryOptions)
{
    unsigned char *data;
    size_t size;
    (void)jitOptions;
    (void)jitOptionsValues;
    (void)numJitOptions;
    (void)libraryOptions;
    (void)libraryOptionValues;
    (void)numLibraryOptions;
    if (library == NULL || fileName == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_read_file(fileName, &data, &size);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = size >= 4 ? load(library, data, size) : CUDA_ERROR_INVALID_IMAGE;
    free(data);
    return rc;
}

/* Locked on success. */
static CUresult enter_library(CUlibrary lib)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    return emu_handle_is(lib, EMU_H_LIBRARY) ? CUDA_SUCCESS : emu_leave(CUDA_ERROR_INVALID_HANDLE);
}

CUresult CUDAAPI cuLibraryUnload(CUlibrary library)
{
    CUresult rc = enter_library(library);
    if (rc != CUDA_SUCCESS)
        return rc;
    free_library(library);
    return emu_leave(CUDA_SUCCESS);
}

/* ---- kernels -------------------------------------------------------------------------------- */

static CUresult library_kernel(CUlibrary lib, const char *name, CUkernel *out)
{
    EMU_FOR_EACH (pos, &lib->kernels) {
        CUkernel k = EMU_CONTAINER(pos, struct CUkern_st, link);
        if (strcmp(k->entry.name, name) == 0) {
            *out = k;
            return CUDA_SUCCESS;
        }
    }
    emu_entry entry;
    CUresult rc = emu_entry_lookup(&lib->image, name, &entry);
    if (rc != CUDA_SUCCESS)
        return rc;
    CUkernel k = calloc(1, sizeof *k);
    entry.name = k != NULL ? strdup(name) : NULL;
    if (entry.name == NULL || !emu_handle_add(k, EMU_H_KERNEL)) {
        free((char *)entry.name);
        free(k);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    k->lib = lib;
    k->entry = entry;
    emu_func_attrs_init(&k->own_attrs, NULL);
    k->entry.attrs = &k->own_attrs;
    emu_list_add(&lib->kernels, &k->link);
    *out = k;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
    if (pKernel == NULL || name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_library(library);
    return rc != CUDA_SUCCESS ? rc : emu_leave(library_kernel(library, name, pKernel));
}

CUresult CUDAAPI cuLibraryGetKernelCount(unsigned int *count, CUlibrary lib)
{
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_library(lib);
    if (rc != CUDA_SUCCESS)
        return rc;
    *count = (unsigned)lib->image.count;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels, CUlibrary lib)
{
    if (kernels == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_library(lib);
    if (rc != CUDA_SUCCESS)
        return rc;
    for (unsigned i = 0; i < numKernels && i < lib->image.count && rc == CUDA_SUCCESS; i++)
        rc = library_kernel(lib, lib->image.kernels[i].name, &kernels[i]);
    return emu_leave(rc);
}

CUresult CUDAAPI cuLibraryGetModule(CUmodule *pMod, CUlibrary library)
{
    CUcontext ctx;
    if (pMod == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_library(library);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_current_usable(&ctx);
    return emu_leave(rc != CUDA_SUCCESS ? rc : emu_library_module(library, ctx, pMod));
}

/* The variable of the library's module in the current context. */
CUresult CUDAAPI cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
    CUcontext ctx;
    CUmodule mod;
    if (name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_library(library);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_current_usable(&ctx);
    if (rc == CUDA_SUCCESS)
        rc = emu_library_module(library, ctx, &mod);
    return emu_leave(rc != CUDA_SUCCESS ? rc : emu_module_global(mod, name, dptr, bytes));
}

/* Managed variables are not emulated (managed memory is not). */
CUresult CUDAAPI cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
    (void)dptr, (void)bytes;
    if (name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_library(library);
    return rc != CUDA_SUCCESS ? rc : emu_leave(CUDA_ERROR_NOT_FOUND);
}

/* The kernel's function in the current context (its library's module there). */
CUresult CUDAAPI cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
    CUcontext ctx;
    CUmodule mod;
    if (pFunc == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(kernel, EMU_H_KERNEL))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    rc = emu_library_module(kernel->lib, ctx, &mod);
    if (rc == CUDA_SUCCESS)
        rc = emu_module_function(mod, kernel->entry.name, kernel, pFunc);
    return emu_leave(rc);
}

CUresult CUDAAPI cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel)
{
    if (pLib == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(kernel, EMU_H_KERNEL))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    *pLib = kernel->lib;
    return emu_leave(CUDA_SUCCESS);
}
