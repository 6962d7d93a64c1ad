/*
 * JIT linking (cuLinkCreate, cuLinkAddData, cuLinkAddFile, cuLinkComplete, cuLinkDestroy). Nothing is
 * compiled: each input (PTX, cubin or fatbin) is parsed as cuModuleLoadData would parse it, so a bad one
 * fails where a driver's compiler would, and the linked image is a fatbin holding every input as an
 * entry (a fatbin input's entries as they are), which the loader reads like any other. Logs are empty
 * strings and the wall time 0. Lock held where noted.
 */
#include "emu.h"

#include "../../common/read_whole_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FATBIN_MAGIC 0xBA55ED50u
#define FATBIN_HEADER 16
#define ENTRY_HEADER 64

struct CUlinkState_st {
    unsigned char *entries;     /* fatbin entries, back to back */
    size_t len, cap;
    unsigned char *image;       /* cuLinkComplete's, valid until cuLinkDestroy */
};

/* The caller's log buffers get empty strings and the wall time 0, as a quiet compile reports. */
static void answer_options(unsigned n, const CUjit_option *options, void **values)
{
    for (unsigned i = 0; options != NULL && values != NULL && i < n; i++) {
        if ((options[i] == CU_JIT_INFO_LOG_BUFFER || options[i] == CU_JIT_ERROR_LOG_BUFFER) && values[i] != NULL)
            *(char *)values[i] = '\0';
        else if (options[i] == CU_JIT_WALL_TIME) {
            float zero = 0.0f;
            memcpy(&values[i], &zero, sizeof zero);
        }
    }
}

static bool append(struct CUlinkState_st *l, const void *data, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap == 0 ? 4096 : l->cap;
        while (cap < l->len + n)
            cap *= 2;
        unsigned char *grown = realloc(l->entries, cap);
        if (grown == NULL)
            return false;
        l->entries = grown;
        l->cap = cap;
    }
    memcpy(l->entries + l->len, data, n);
    l->len += n;
    return true;
}

/* One fatbin entry of kind (1 PTX, 2 ELF) around the payload. */
static bool append_entry(struct CUlinkState_st *l, uint16_t kind, const void *payload, size_t n)
{
    unsigned char header[ENTRY_HEADER] = { 0 };
    uint32_t header_size = ENTRY_HEADER;
    uint64_t size = n;
    memcpy(header, &kind, 2);
    memcpy(header + 4, &header_size, 4);
    memcpy(header + 8, &size, 8);
    return append(l, header, sizeof header) && append(l, payload, n);
}

CUresult CUDAAPI cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues, CUlinkState *stateOut)
{
    CUcontext ctx;
    if (stateOut == NULL || (numOptions > 0 && (options == NULL || optionValues == NULL)))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUlinkState_st *l = calloc(1, sizeof *l);
    if (l == NULL || !emu_handle_add(l, EMU_H_LINK)) {
        free(l);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    answer_options(numOptions, options, optionValues);
    *stateOut = l;
    return emu_leave(CUDA_SUCCESS);
}

/* Lock held: checks the input as the loader would, then appends it. */
static CUresult add(struct CUlinkState_st *l, CUjitInputType type, const unsigned char *data, size_t size)
{
    if (data == NULL || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    uint16_t kind;
    switch (type) {
    case CU_JIT_INPUT_PTX: kind = 1; break;
    case CU_JIT_INPUT_CUBIN: kind = 2; break;
    case CU_JIT_INPUT_FATBINARY: kind = 0; break;
    default: return CUDA_ERROR_NOT_SUPPORTED; /* host objects, libraries, LTO IR: no compiler here */
    }
    emu_image image;
    CUresult rc = emu_image_parse(data, size, &image);
    if (rc != CUDA_SUCCESS)
        return type == CU_JIT_INPUT_PTX ? CUDA_ERROR_INVALID_PTX : rc;
    emu_image_free(&image);
    if (kind == 2)
        return append_entry(l, kind, data, size) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    if (kind == 1) {
        /* PTX text ends at its NUL, which the loader wants inside the entry. */
        size_t n = strnlen((const char *)data, size);
        char *text = malloc(n + 1);
        bool ok = text != NULL;
        if (ok) {
            memcpy(text, data, n);
            text[n] = '\0';
            ok = append_entry(l, kind, text, n + 1);
        }
        free(text);
        return ok ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    }
    uint32_t magic;
    uint16_t header;
    uint64_t payload;
    memcpy(&magic, data, 4);
    if (magic != FATBIN_MAGIC || size < FATBIN_HEADER)
        return CUDA_ERROR_INVALID_IMAGE;
    memcpy(&header, data + 6, 2);
    memcpy(&payload, data + 8, 8);
    if (header < FATBIN_HEADER || header > size || payload > size - header)
        return CUDA_ERROR_INVALID_IMAGE;
    return append(l, data + header, payload) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* Locked with the link state on success. */
static CUresult enter_link(CUlinkState state)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    return emu_handle_is(state, EMU_H_LINK) ? CUDA_SUCCESS : emu_leave(CUDA_ERROR_INVALID_HANDLE);
}

CUresult CUDAAPI cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                                  unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    (void)name;
    CUresult rc = enter_link(state);
    if (rc != CUDA_SUCCESS)
        return rc;
    answer_options(numOptions, options, optionValues);
    return emu_leave(add(state, type, data, size));
}

CUresult CUDAAPI cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                                  CUjit_option *options, void **optionValues)
{
    if (path == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned char *data;
    size_t len;
    CUresult rc = gp_read_whole_file(path, &data, &len);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = cuLinkAddData_v2(state, type, data, len, path, numOptions, options, optionValues);
    free(data);
    return rc;
}

CUresult CUDAAPI cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
    if (cubinOut == NULL || sizeOut == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_link(state);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUlinkState_st *l = state;
    if (l->len == 0)
        return emu_leave(CUDA_ERROR_INVALID_VALUE); /* nothing to link */
    free(l->image);
    if ((l->image = malloc(FATBIN_HEADER + l->len)) == NULL)
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    uint32_t magic = FATBIN_MAGIC;
    uint16_t version = 1, header = FATBIN_HEADER;
    uint64_t payload = l->len;
    memcpy(l->image, &magic, 4);
    memcpy(l->image + 4, &version, 2);
    memcpy(l->image + 6, &header, 2);
    memcpy(l->image + 8, &payload, 8);
    memcpy(l->image + FATBIN_HEADER, l->entries, l->len);
    *cubinOut = l->image;
    *sizeOut = FATBIN_HEADER + l->len;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuLinkDestroy(CUlinkState state)
{
    CUresult rc = enter_link(state);
    if (rc != CUDA_SUCCESS)
        return rc;
    struct CUlinkState_st *l = state;
    emu_handle_remove(l);
    free(l->entries);
    free(l->image);
    free(l);
    return emu_leave(CUDA_SUCCESS);
}
