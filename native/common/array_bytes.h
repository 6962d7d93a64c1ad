/*
 * The device memory a CUDA array takes, from its descriptor: what the emulated driver allocates for
 * one and what the daemon counts against a session's quota before it asks the driver for one
 * (docs/operations.md, "Memory quotas"). Header-only: built into the emulator (C) and the addon (C++).
 *
 * width x height x depth (0 counts as 1) x bytes per element; block-compressed formats by their 4x4
 * blocks; the planar and packed video (YUV) formats as 8 bytes per element, which no such format
 * exceeds, so that the count is an upper bound of the real driver's for them.
 */
#ifndef GPUPOOL_ARRAY_BYTES_H
#define GPUPOOL_ARRAY_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

/* Bytes of one element (channels included), or of one 4x4 block when *block is set; 0: unknown. */
static inline size_t gp_array_element_bytes(CUarray_format format, unsigned channels, int *block)
{
    *block = 0;
    size_t scalar = 0;
    switch ((int)format) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8: scalar = 1; break;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF: scalar = 2; break;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT: scalar = 4; break;
    default: break;
    }
    if (scalar != 0)
        return channels == 1 || channels == 2 || channels == 4 ? scalar * channels : 0;
    switch ((int)format) {
    /* Normalised formats name their channels themselves. */
    case CU_AD_FORMAT_UNORM_INT8X1:
    case CU_AD_FORMAT_SNORM_INT8X1: return 1;
    case CU_AD_FORMAT_UNORM_INT8X2:
    case CU_AD_FORMAT_SNORM_INT8X2:
    case CU_AD_FORMAT_UNORM_INT16X1:
    case CU_AD_FORMAT_SNORM_INT16X1: return 2;
    case CU_AD_FORMAT_UNORM_INT8X4:
    case CU_AD_FORMAT_SNORM_INT8X4:
    case CU_AD_FORMAT_UNORM_INT16X2:
    case CU_AD_FORMAT_SNORM_INT16X2:
    case CU_AD_FORMAT_UNORM_INT_101010_2: return 4;
    case CU_AD_FORMAT_UNORM_INT16X4:
    case CU_AD_FORMAT_SNORM_INT16X4: return 8;
    case CU_AD_FORMAT_BC1_UNORM:
    case CU_AD_FORMAT_BC1_UNORM_SRGB:
    case CU_AD_FORMAT_BC4_UNORM:
    case CU_AD_FORMAT_BC4_SNORM: *block = 1; return 8;
    case CU_AD_FORMAT_BC2_UNORM:
    case CU_AD_FORMAT_BC2_UNORM_SRGB:
    case CU_AD_FORMAT_BC3_UNORM:
    case CU_AD_FORMAT_BC3_UNORM_SRGB:
    case CU_AD_FORMAT_BC5_UNORM:
    case CU_AD_FORMAT_BC5_SNORM:
    case CU_AD_FORMAT_BC6H_UF16:
    case CU_AD_FORMAT_BC6H_SF16:
    case CU_AD_FORMAT_BC7_UNORM:
    case CU_AD_FORMAT_BC7_UNORM_SRGB: *block = 1; return 16;
    case CU_AD_FORMAT_NV12:
    case CU_AD_FORMAT_P010:
    case CU_AD_FORMAT_P016:
    case CU_AD_FORMAT_NV16:
    case CU_AD_FORMAT_P210:
    case CU_AD_FORMAT_P216:
    case CU_AD_FORMAT_YUY2:
    case CU_AD_FORMAT_Y210:
    case CU_AD_FORMAT_Y216:
    case CU_AD_FORMAT_AYUV:
    case CU_AD_FORMAT_Y410:
    case CU_AD_FORMAT_Y416:
    case CU_AD_FORMAT_Y444_PLANAR8:
    case CU_AD_FORMAT_Y444_PLANAR10:
    case CU_AD_FORMAT_YUV444_8bit_SemiPlanar:
    case CU_AD_FORMAT_YUV444_16bit_SemiPlanar: return 8;
    default: return 0;
    }
}

/*
 * The memory of an array of width x height x depth elements (height and depth 0 count as 1), in
 * *bytes. 0 on success; -1 for a format or channel count it does not know, a zero width, or a size
 * that overflows.
 */
static inline int gp_array_bytes(size_t width, size_t height, size_t depth, CUarray_format format, unsigned channels,
                                 size_t *bytes)
{
    int block = 0;
    size_t unit = gp_array_element_bytes(format, channels, &block);
    size_t h = height ? height : 1, d = depth ? depth : 1, w = width, n = 0;
    if (unit == 0 || width == 0)
        return -1;
    if (block) {
        w = (width + 3) / 4;
        h = (h + 3) / 4;
    }
    if (__builtin_mul_overflow(w, h, &n) || __builtin_mul_overflow(n, d, &n) || __builtin_mul_overflow(n, unit, &n))
        return -1;
    *bytes = n;
    return 0;
}

/* Dimension d of mipmap level `level`: halved per level, never below 1 (0 stays 0: an absent one). */
static inline size_t gp_mip_extent(size_t d, unsigned level)
{
    if (d == 0)
        return 0;
    d = level >= 64 ? 0 : d >> level;
    return d ? d : 1;
}

/* The memory of a mipmapped array: its levels summed (a layered one's layers, its depth, are not
 * halved). 0 on success, -1 as gp_array_bytes or for a level count of 0 or past 64. */
static inline int gp_mipmap_bytes(size_t width, size_t height, size_t depth, int layered, CUarray_format format,
                                  unsigned channels, unsigned levels, size_t *bytes)
{
    size_t total = 0;
    if (levels == 0 || levels > 64) /* a size_t dimension halves to 1 within 64 levels */
        return -1;
    for (unsigned l = 0; l < levels; l++) {
        size_t one = 0;
        size_t d = layered ? depth : gp_mip_extent(depth, l);
        if (gp_array_bytes(gp_mip_extent(width, l), gp_mip_extent(height, l), d, format, channels, &one) != 0 ||
            __builtin_add_overflow(total, one, &total))
            return -1;
    }
    *bytes = total;
    return 0;
}

#endif
