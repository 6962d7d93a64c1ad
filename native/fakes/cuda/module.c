/* Modules (per-context images) and their functions. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#define EMU_DEFAULT_DYNAMIC_SHARED 49152
#define EMU_DEFAULT_REGS 32

CUresult emu_entry_lookup(const emu_image *image, const char *name, emu_entry *out)
{
    const emu_image_kernel *info = emu_image_find(image, name);
    const gpupool_emu_kernel *impl = emu_registry_find(name, image);
    /* An image that could not be read names no kernels: only a kernel library can vouch for one. */
    if (info == NULL && !(image->opaque && impl != NULL))
        return CUDA_ERROR_NOT_FOUND;
    *out = (emu_entry){ NULL, impl, info, NULL, image };
    return CUDA_SUCCESS;
}

void emu_func_attrs_init(emu_func_attrs *attrs, const emu_device *dev)
{
    memset(attrs, 0, sizeof *attrs);
    attrs->v[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK] =
        dev != NULL ? emu_device_attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK) : 1024;
    attrs->v[CU_FUNC_ATTRIBUTE_NUM_REGS] = EMU_DEFAULT_REGS;
    attrs->v[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES] = EMU_DEFAULT_DYNAMIC_SHARED;
    attrs->v[CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT] = -1;
}

/* ---- lifetime ------------------------------------------------------------------------------- */

/* Each module has its own copy of the image's variables, initialised from the image. */
static CUresult alloc_globals(CUcontext ctx, const emu_image *image, emu_alloc ***out)
{
    *out = NULL;
    if (image->global_count == 0)
        return CUDA_SUCCESS;
    emu_alloc **globals = calloc(image->global_count, sizeof *globals);
    if (globals == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; i < image->global_count; i++) {
        const emu_image_global *g = &image->globals[i];
        CUresult rc = emu_alloc_device_kind(ctx, g->size, EMU_MEM_GLOBAL, &globals[i]);
        if (rc != CUDA_SUCCESS) {
            while (i > 0)
                emu_release_alloc(globals[--i]);
            free(globals);
            return rc;
        }
        if (g->init != NULL)
            memcpy(globals[i]->host, g->init, g->size);
    }
    *out = globals;
    return CUDA_SUCCESS;
}

CUresult emu_module_new(CUcontext ctx, emu_image *image, CUlibrary lib, CUmodule *out)
{
    CUmodule mod = calloc(1, sizeof *mod);
    if (mod == NULL || !emu_handle_add(mod, EMU_H_MODULE)) {
        free(mod);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    CUresult rc = alloc_globals(ctx, image, &mod->globals);
    if (rc != CUDA_SUCCESS) {
        emu_handle_remove(mod);
        free(mod);
        return rc;
    }
    mod->ctx = ctx;
    mod->lib = lib;
    mod->image = image;
    emu_list_init(&mod->functions);
    emu_list_init(&mod->lib_link);
    emu_list_add(&ctx->modules, &mod->link);
    if (lib != NULL)
        emu_list_add(&lib->modules, &mod->lib_link);
    else
        emu_g.stats.modules++;
    *out = mod;
    return CUDA_SUCCESS;
}

static void free_function(CUfunction f)
{
    emu_list_del(&f->link);
    emu_handle_remove(f);
    free((char *)f->entry.name);
    free(f);
}

void emu_module_free(CUmodule mod)
{
    EMU_FOR_EACH_SAFE (pos, &mod->functions)
        free_function(EMU_CONTAINER(pos, struct CUfunc_st, link));
    for (size_t i = 0; mod->globals != NULL && i < mod->image->global_count; i++)
        emu_release_alloc(mod->globals[i]);
    free(mod->globals);
    emu_list_del(&mod->link);
    emu_list_del(&mod->lib_link);
    emu_handle_remove(mod);
    if (mod->lib == NULL) {
        emu_image_free(mod->image);
        free(mod->image);
        emu_g.stats.modules--;
    }
    free(mod);
}

void emu_free_ctx_modules(CUcontext ctx)
{
    EMU_FOR_EACH_SAFE (pos, &ctx->modules)
        emu_module_free(EMU_CONTAINER(pos, struct CUmod_st, link));
}

/* The module's function called name, created on first request; kernel: the CUkernel it stands for. */
CUresult emu_module_function(CUmodule mod, const char *name, CUkernel kernel, CUfunction *out)
{
    EMU_FOR_EACH (pos, &mod->functions) {
        CUfunction f = EMU_CONTAINER(pos, struct CUfunc_st, link);
        if (strcmp(f->entry.name, name) == 0) {
            *out = f;
            return CUDA_SUCCESS;
        }
    }
    emu_entry entry;
    CUresult rc = emu_entry_lookup(mod->image, name, &entry);
    if (rc != CUDA_SUCCESS)
        return rc;
    CUfunction f = calloc(1, sizeof *f);
    entry.name = f != NULL ? strdup(name) : NULL;
    if (entry.name == NULL || !emu_handle_add(f, EMU_H_FUNCTION)) {
        free((char *)entry.name);
        free(f);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    f->mod = mod;
    f->kernel = kernel;
    f->entry = entry;
    emu_func_attrs_init(&f->own_attrs, mod->ctx->dev);
    /* A function got through its CUkernel shares the kernel's attributes. */
    f->entry.attrs = kernel != NULL ? &kernel->own_attrs : &f->own_attrs;
    emu_list_add(&mod->functions, &f->link);
    *out = f;
    return CUDA_SUCCESS;
}

/* ---- loading -------------------------------------------------------------------------------- */

static CUresult load(CUmodule *module, const void *image, size_t size)
{
    CUcontext ctx;
    if (module == NULL || image == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    emu_image *parsed = malloc(sizeof *parsed);
    if (parsed == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    rc = emu_image_parse(image, size, parsed);
    if (rc == CUDA_SUCCESS)
        rc = emu_module_new(ctx, parsed, NULL, module);
    if (rc != CUDA_SUCCESS) {
        emu_image_free(parsed);
        free(parsed);
    }
    return emu_leave(rc);
}

CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image)
{
    return load(module, image, 0);
}

/* JIT options change nothing: no code is compiled here. */
CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                    CUjit_option *options, void **optionValues)
{
    (void)numOptions;
    (void)options;
    (void)optionValues;
    return load(module, image, 0);
}

CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
    return load(module, fatCubin, 0);
}

CUresult CUDAAPI cuModuleLoad(CUmodule *module, const char *fname)
{
    unsigned char *data;
    size_t size;
    if (module == NULL || fname == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_read_file(fname, &data, &size);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = size >= 4 ? load(module, data, size) : CUDA_ERROR_INVALID_IMAGE;
    free(data);
    return rc;
}

/* Locked with the module's context usable on success. */
static CUresult enter_module(CUmodule mod)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!emu_handle_is(mod, EMU_H_MODULE))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    rc = mod->ctx->sticky;
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

/* A library's per-context module goes with its library (cuLibraryUnload) or its context. */
CUresult CUDAAPI cuModuleUnload(CUmodule hmod)
{
    CUresult rc = enter_module(hmod);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (hmod->lib != NULL)
        return emu_leave(CUDA_ERROR_NOT_PERMITTED);
    emu_printf_flush(hmod->ctx);
    emu_module_free(hmod);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
    if (hfunc == NULL || name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_module(hmod);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_module_function(hmod, name, NULL, hfunc));
}

emu_alloc *emu_module_global_alloc(CUmodule mod, const char *name)
{
    for (size_t i = 0; mod->globals != NULL && i < mod->image->global_count; i++)
        if (strcmp(mod->image->globals[i].name, name) == 0)
            return mod->globals[i];
    return NULL;
}

CUresult emu_module_global(CUmodule mod, const char *name, CUdeviceptr *dptr, size_t *bytes)
{
    emu_alloc *a = emu_module_global_alloc(mod, name);
    if (a == NULL)
        return CUDA_ERROR_NOT_FOUND;
    if (dptr != NULL)
        *dptr = (CUdeviceptr)a->start;
    if (bytes != NULL)
        *bytes = a->bytes;
    return CUDA_SUCCESS;
}

/* __device__ and __constant__ variables read from the image's ELF (not from PTX text). */
CUresult CUDAAPI cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name)
{
    if (name == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_module(hmod);
    return rc != CUDA_SUCCESS ? rc : emu_leave(emu_module_global(hmod, name, dptr, bytes));
}

/* Lazy, as CUDA 12.2+ defaults to: cudart then loads code at the first launch. */
CUresult CUDAAPI cuModuleGetLoadingMode(CUmoduleLoadingMode *mode)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (mode == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *mode = CU_MODULE_LAZY_LOADING;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuModuleGetFunctionCount(unsigned int *count, CUmodule mod)
{
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_module(mod);
    if (rc != CUDA_SUCCESS)
        return rc;
    *count = (unsigned)mod->image->count;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions, CUmodule mod)
{
    if (functions == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_module(mod);
    if (rc != CUDA_SUCCESS)
        return rc;
    for (unsigned i = 0; i < numFunctions && i < mod->image->count && rc == CUDA_SUCCESS; i++)
        rc = emu_module_function(mod, mod->image->kernels[i].name, NULL, &functions[i]);
    return emu_leave(rc);
}
