/* The kernel list of a loaded image, and reading image files. */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

emu_image_kernel *emu_image_find(const emu_image *image, const char *name)
{
    for (size_t i = 0; i < image->count; i++)
        if (strcmp(image->kernels[i].name, name) == 0)
            return &image->kernels[i];
    return NULL;
}

/* Adds a kernel once: a fatbin carries the same kernels for several architectures. */
bool emu_image_add_kernel(emu_image *image, const char *name, size_t name_len)
{
    char *copy = strndup(name, name_len);
    if (copy == NULL)
        return false;
    if (emu_image_find(image, copy) != NULL) {
        free(copy);
        return true;
    }
    if (image->count == image->cap) {
        size_t cap = image->cap == 0 ? 8 : image->cap * 2;
        emu_image_kernel *grown = realloc(image->kernels, cap * sizeof *grown);
        if (grown == NULL) {
            free(copy);
            return false;
        }
        image->kernels = grown;
        image->cap = cap;
    }
    image->kernels[image->count++] = (emu_image_kernel){ copy, -1, NULL, NULL };
    return true;
}

/* The first entry that describes the parameters wins; later architectures agree anyway. */
bool emu_image_set_params(emu_image_kernel *k, int count, const size_t *offsets, const size_t *sizes)
{
    if (k->param_count >= 0)
        return true;
    size_t n = count > 0 ? (size_t)count : 1;
    size_t *o = malloc(n * sizeof *o), *s = malloc(n * sizeof *s);
    if (o == NULL || s == NULL) {
        free(o);
        free(s);
        return false;
    }
    if (count > 0) {
        memcpy(o, offsets, (size_t)count * sizeof *o);
        memcpy(s, sizes, (size_t)count * sizeof *s);
    }
    k->param_count = count;
    k->param_offsets = o;
    k->param_sizes = s;
    return true;
}

bool emu_image_add_global(emu_image *image, const char *name, size_t size, const unsigned char *init)
{
    for (size_t i = 0; i < image->global_count; i++)
        if (strcmp(image->globals[i].name, name) == 0)
            return true;
    if (image->global_count == image->global_cap) {
        size_t cap = image->global_cap == 0 ? 8 : image->global_cap * 2;
        emu_image_global *grown = realloc(image->globals, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        image->globals = grown;
        image->global_cap = cap;
    }
    emu_image_global g = { strdup(name), size, NULL };
    if (g.name != NULL && init != NULL && (g.init = malloc(size)) != NULL)
        memcpy(g.init, init, size);
    if (g.name == NULL || (init != NULL && g.init == NULL)) {
        free(g.name);
        return false;
    }
    image->globals[image->global_count++] = g;
    return true;
}

bool emu_image_add_function(emu_image *image, const char *name)
{
    for (size_t i = 0; i < image->function_count; i++)
        if (strcmp(image->functions[i], name) == 0)
            return true;
    if (image->function_count == image->function_cap) {
        size_t cap = image->function_cap == 0 ? 8 : image->function_cap * 2;
        char **grown = realloc(image->functions, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        image->functions = grown;
        image->function_cap = cap;
    }
    if ((image->functions[image->function_count] = strdup(name)) == NULL)
        return false;
    image->function_count++;
    return true;
}

void emu_image_add_arch(emu_image *image, unsigned arch)
{
    for (unsigned i = 0; i < image->arch_count; i++)
        if (image->archs[i] == arch)
            return;
    if (image->arch_count < EMU_IMAGE_ARCHS)
        image->archs[image->arch_count++] = arch;
}

int emu_image_arch_for(const emu_image *image, int cc)
{
    int best = 0;
    for (unsigned i = 0; image != NULL && i < image->arch_count; i++)
        if ((int)image->archs[i] <= cc && (int)image->archs[i] > best)
            best = (int)image->archs[i];
    return best != 0 ? best : cc;
}

void emu_image_free(emu_image *image)
{
    for (size_t i = 0; i < image->function_count; i++)
        free(image->functions[i]);
    free(image->functions);
    for (size_t i = 0; i < image->global_count; i++) {
        free(image->globals[i].name);
        free(image->globals[i].init);
    }
    free(image->globals);
    for (size_t i = 0; i < image->count; i++) {
        free(image->kernels[i].name);
        free(image->kernels[i].param_offsets);
        free(image->kernels[i].param_sizes);
    }
    free(image->kernels);
    *image = (emu_image){ 0 };
}

CUresult emu_read_file(const char *path, unsigned char **data, size_t *size)
{
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    size_t cap = 1 << 16, used = 0;
    unsigned char *buf = f != NULL ? malloc(cap) : NULL;
    while (buf != NULL) {
        used += fread(buf + used, 1, cap - used, f);
        if (used < cap)
            break;
        unsigned char *grown = realloc(buf, cap * 2);
        if (grown == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    bool failed = f == NULL || buf == NULL || ferror(f);
    if (f != NULL)
        fclose(f);
    if (failed) {
        free(buf);
        return f == NULL ? CUDA_ERROR_FILE_NOT_FOUND : CUDA_ERROR_OUT_OF_MEMORY;
    }
    *data = buf;
    *size = used;
    return CUDA_SUCCESS;
}
