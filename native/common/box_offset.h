/*
 * Where a byte of a pitched box lies: rows `pitch` bytes apart, planes `height` rows apart, as
 * CUDA_MEMCPY3D lays out each side. Header-only: the client library (C) places host boxes with it and
 * the daemon (C++) checks that a shared region holds one, so both read a box the same way.
 */
#ifndef GPUPOOL_BOX_OFFSET_H
#define GPUPOOL_BOX_OFFSET_H

#include <stdint.h>

/* The offset of byte (x, y, z) from the box's start into *at: 1, or 0 when it overflows 64 bits. The
 * bytes a box of w x h x d spans are gp_box_offset(w, h - 1, d - 1): its last row's end. */
static inline int gp_box_offset(uint64_t x, uint64_t y, uint64_t z, uint64_t pitch, uint64_t height, uint64_t *at)
{
    uint64_t v;
    if (__builtin_mul_overflow(z, height, &v) || __builtin_add_overflow(v, y, &v) || __builtin_mul_overflow(v, pitch, &v) ||
        __builtin_add_overflow(v, x, &v))
        return 0;
    *at = v;
    return 1;
}

#endif
