/*
 * Kernel libraries: the shared objects named in GPUPOOL_EMU_KERNELS (colon-separated), loaded once at
 * the first successful cuInit. Each exports gpupool_emu_kernels(); the first library naming a kernel
 * wins. A library that cannot be used is reported once on stderr and skipped.
 */
#include "emu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMU_KERNELS_ENV "GPUPOOL_EMU_KERNELS"

typedef const gpupool_emu_kernel *(*kernels_fn)(unsigned *count);

typedef struct {
    void *handle;
    const gpupool_emu_kernel *kernels;
    unsigned count;
} kernel_library;

static kernel_library *g_libs;
static size_t g_lib_count;

static bool append(void *handle, const gpupool_emu_kernel *kernels, unsigned count)
{
    kernel_library *grown = realloc(g_libs, (g_lib_count + 1) * sizeof *grown);
    if (grown == NULL)
        return false;
    g_libs = grown;
    g_libs[g_lib_count++] = (kernel_library){ handle, kernels, count };
    return true;
}

static void load_one(const char *path)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "fake " EMU_LIB ": cannot load kernel library %s: %s\n", path, dlerror());
        return;
    }
    kernels_fn fn;
    void *sym = dlsym(handle, "gpupool_emu_kernels");
    memcpy(&fn, &sym, sizeof fn); /* object pointer to function pointer, as dlsym requires */
    unsigned count = 0;
    const gpupool_emu_kernel *kernels = fn != NULL ? fn(&count) : NULL;
    if (kernels == NULL || !append(handle, kernels, count)) {
        fprintf(stderr, "fake " EMU_LIB ": kernel library %s has no gpupool_emu_kernels()\n", path);
        dlclose(handle);
    }
}

void emu_registry_load(void)
{
    const char *env = getenv(EMU_KERNELS_ENV);
    char *list = env != NULL ? strdup(env) : NULL;
    char *save = NULL;
    if (list == NULL)
        return;
    for (char *path = strtok_r(list, ":", &save); path != NULL; path = strtok_r(NULL, ":", &save))
        load_one(path);
    free(list);
}

static const gpupool_emu_kernel *find_exact(const char *name)
{
    for (size_t i = 0; i < g_lib_count; i++)
        for (unsigned k = 0; k < g_libs[i].count; k++)
            if (g_libs[i].kernels[k].name != NULL && strcmp(g_libs[i].kernels[k].name, name) == 0)
                return &g_libs[i].kernels[k];
    return NULL;
}

/*
 * A file-static kernel compiled for separate compilation (-rdc) is named
 * "__nv_static_<N>__<N characters of the file's module id>" + its mangled name, the module id
 * differing per build: kernel libraries name it by the mangled name alone.
 */
static const char *without_static_prefix(const char *name)
{
    static const char prefix[] = "__nv_static_";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return NULL;
    char *end;
    unsigned long n = strtoul(name + sizeof prefix - 1, &end, 10);
    if (end[0] != '_' || end[1] != '_' || strlen(end + 2) <= n)
        return NULL;
    return end + 2 + n;
}

/* name@function for a function of the image, first in the image's order; else name alone. */
static const gpupool_emu_kernel *find_for_image(const char *name, const emu_image *image)
{
    for (size_t f = 0; image != NULL && f < image->function_count; f++) {
        size_t n = strlen(name), m = strlen(image->functions[f]);
        char *keyed = malloc(n + m + 2);
        if (keyed == NULL)
            break;
        memcpy(keyed, name, n);
        keyed[n] = '@';
        memcpy(keyed + n + 1, image->functions[f], m + 1);
        const gpupool_emu_kernel *k = find_exact(keyed);
        free(keyed);
        if (k != NULL)
            return k;
    }
    return find_exact(name);
}

const gpupool_emu_kernel *emu_registry_find(const char *name, const emu_image *image)
{
    const gpupool_emu_kernel *k = find_for_image(name, image);
    const char *plain = k == NULL ? without_static_prefix(name) : NULL;
    return plain != NULL ? find_for_image(plain, image) : k;
}

void emu_registry_unload(void)
{
    for (size_t i = 0; i < g_lib_count; i++)
        dlclose(g_libs[i].handle);
    free(g_libs);
    g_libs = NULL;
    g_lib_count = 0;
}
