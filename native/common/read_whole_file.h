/*
 * A file read whole into memory the caller frees: JIT linking's file inputs (cuLinkAddFile), which the
 * emulated driver and the client library both read. Header-only (C).
 */
#ifndef GPUPOOL_READ_WHOLE_FILE_H
#define GPUPOOL_READ_WHOLE_FILE_H

#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

/* CUDA_SUCCESS with *data (malloc'd) and *len; CUDA_ERROR_FILE_NOT_FOUND or CUDA_ERROR_OUT_OF_MEMORY. */
static inline CUresult gp_read_whole_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return CUDA_ERROR_FILE_NOT_FOUND;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            unsigned char *grown = realloc(buf, cap = cap == 0 ? 65536 : cap * 2);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return CUDA_ERROR_OUT_OF_MEMORY;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *data = buf;
    *len = n;
    return CUDA_SUCCESS;
}

#endif
