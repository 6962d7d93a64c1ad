/*
 * Texture sampling for CPU kernels (docs/emulator.md, "Textures"): what a texture object resolves to
 * once per launch (launch->texture_view), and the fetches, inlined into the kernel, that read it as
 * tex1D/tex2D/tex3D, tex1DLayered/tex2DLayered, texCubemap and texCubemapLayered do. The emulator's
 * own launch->texture samples through these same functions, so both paths give the same texels.
 *
 * Point and linear filtering (full float weights: a GPU's have 8 fractional bits), the wrap, clamp,
 * mirror and border address modes, normalised coordinates, and the read modes (an 8- or 16-bit integer
 * format reads as a normalised float unless read as integer). Included by gpupool_emu.h.
 */
#ifndef GPUPOOL_EMU_TEXTURE_H
#define GPUPOOL_EMU_TEXTURE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cuda.h>

/* What a view's resource is (flags). */
#define GPUPOOL_EMU_TEX_LAYERED 1u
#define GPUPOOL_EMU_TEX_CUBEMAP 2u

typedef struct gpupool_emu_texture_view {
    const unsigned char *base;  /* the resource's first texel, valid until the kernel returns */
    size_t extent[3];           /* elements, rows, planes sampled (1 where the resource has fewer) */
    size_t layers;              /* layers (a cubemap: 6 faces per layer); 1 when not layered */
    size_t pitch, slice;        /* bytes between rows, between planes (a layer or face: one plane) */
    size_t elem;                /* bytes of one element, channels included */
    CUarray_format format;
    unsigned channels;
    int dims;                   /* the dimensions a coordinate has: 1, 2 or 3 */
    unsigned kind;              /* GPUPOOL_EMU_TEX_LAYERED | GPUPOOL_EMU_TEX_CUBEMAP, or 0 */
    int linear, normalized, as_integer;
    CUaddress_mode address[3];
    float border[4];
} gpupool_emu_texture_view;

static inline float gpupool_emu_half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v = exp == 0 ? ldexpf((float)mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

/* Channel c of the element at p, as the read mode gives it. */
static inline float gpupool_emu_tex_channel(const gpupool_emu_texture_view *v, const unsigned char *p, unsigned c)
{
    switch (v->format) {
    case CU_AD_FORMAT_FLOAT: {
        float x;
        memcpy(&x, p + 4 * c, 4);
        return x;
    }
    case CU_AD_FORMAT_UNSIGNED_INT8: return v->as_integer ? (float)p[c] : (float)p[c] / 255.0f;
    case CU_AD_FORMAT_SIGNED_INT8: {
        float x = (float)(int8_t)p[c];
        return v->as_integer ? x : fmaxf(x / 127.0f, -1.0f);
    }
    case CU_AD_FORMAT_UNSIGNED_INT16: {
        uint16_t x;
        memcpy(&x, p + 2 * c, 2);
        return v->as_integer ? (float)x : (float)x / 65535.0f;
    }
    case CU_AD_FORMAT_SIGNED_INT16: {
        int16_t x;
        memcpy(&x, p + 2 * c, 2);
        return v->as_integer ? (float)x : fmaxf((float)x / 32767.0f, -1.0f);
    }
    case CU_AD_FORMAT_UNSIGNED_INT32: {
        uint32_t x;
        memcpy(&x, p + 4 * c, 4);
        return (float)x;
    }
    case CU_AD_FORMAT_SIGNED_INT32: {
        int32_t x;
        memcpy(&x, p + 4 * c, 4);
        return (float)x;
    }
    case CU_AD_FORMAT_HALF: {
        uint16_t x;
        memcpy(&x, p + 2 * c, 2);
        return gpupool_emu_half_to_float(x);
    }
    default: return 0.0f;
    }
}

/* An integer coordinate through the address mode: the index, or -1 for the border. */
static inline long gpupool_emu_tex_address(long i, size_t n, CUaddress_mode mode)
{
    long len = (long)n;
    if (i >= 0 && i < len)
        return i;
    switch (mode) {
    case CU_TR_ADDRESS_MODE_WRAP: return ((i % len) + len) % len;
    case CU_TR_ADDRESS_MODE_MIRROR: {
        long period = 2 * len, m = ((i % period) + period) % period;
        return m < len ? m : period - 1 - m;
    }
    case CU_TR_ADDRESS_MODE_BORDER: return -1;
    default: return i < 0 ? 0 : len - 1; /* clamp */
    }
}

/* The texel of plane (a layer, a face) at integer coordinates through the address modes. */
static inline void gpupool_emu_tex_texel(const gpupool_emu_texture_view *v, const unsigned char *plane, const long at[3],
                                         float out[4])
{
    long idx[3] = { 0, 0, 0 };
    for (int k = 0; k < v->dims; k++)
        if ((idx[k] = gpupool_emu_tex_address(at[k], v->extent[k], v->address[k])) < 0) {
            for (int c = 0; c < 4; c++)
                out[c] = v->border[c];
            return;
        }
    const unsigned char *p = plane + (size_t)idx[2] * v->slice + (size_t)idx[1] * v->pitch + (size_t)idx[0] * v->elem;
    for (unsigned c = 0; c < 4; c++)
        out[c] = c < v->channels ? gpupool_emu_tex_channel(v, p, c) : 0.0f;
}

/* Filtered sample of plane at texel coordinates u (already scaled when normalised). */
static inline void gpupool_emu_tex_filter(const gpupool_emu_texture_view *v, const unsigned char *plane, const float u[3],
                                          float out[4])
{
    if (!v->linear) {
        long at[3] = { 0, 0, 0 };
        for (int k = 0; k < v->dims; k++)
            at[k] = (long)floorf(u[k]);
        gpupool_emu_tex_texel(v, plane, at, out);
        return;
    }
    /* Linear: the texels around u - 0.5 weighted by distance, over each dimension the resource has. */
    long base[3] = { 0, 0, 0 };
    float frac[3] = { 0, 0, 0 };
    for (int k = 0; k < v->dims; k++) {
        float x = u[k] - 0.5f;
        base[k] = (long)floorf(x);
        frac[k] = x - floorf(x);
    }
    /* At a texel's centre the other texels weigh 0: that texel alone (convolutionTexture samples only
     * there, 3.2 billion times). */
    if (frac[0] == 0.0f && frac[1] == 0.0f && frac[2] == 0.0f) {
        gpupool_emu_tex_texel(v, plane, base, out);
        return;
    }
    memset(out, 0, 4 * sizeof *out);
    for (int corner = 0; corner < (1 << v->dims); corner++) {
        long at[3] = { base[0], base[1], base[2] };
        float weight = 1.0f, px[4];
        for (int k = 0; k < v->dims; k++) {
            int up = (corner >> k) & 1;
            at[k] += up;
            weight *= up ? frac[k] : 1.0f - frac[k];
        }
        gpupool_emu_tex_texel(v, plane, at, px);
        for (int c = 0; c < 4; c++)
            out[c] += weight * px[c];
    }
}

static inline void gpupool_emu_tex_plane(const gpupool_emu_texture_view *v, size_t plane, float x, float y, float z,
                                         float out[4])
{
    float u[3] = { x, y, z };
    if (v->normalized)
        for (int k = 0; k < v->dims; k++)
            u[k] *= (float)v->extent[k];
    gpupool_emu_tex_filter(v, v->base + plane * v->slice, u, out);
}

/* A layer index as a GPU takes it: clamped to the layers there are. */
static inline size_t gpupool_emu_tex_layer(const gpupool_emu_texture_view *v, int layer, size_t per_layer)
{
    long layers = (long)(v->layers / per_layer);
    return layer < 0 ? 0 : layer >= layers ? (size_t)(layers - 1) : (size_t)layer;
}

/* tex1DLayered (y ignored) and tex2DLayered. */
static inline void gpupool_emu_tex_layered(const gpupool_emu_texture_view *v, float x, float y, int layer, float out[4])
{
    gpupool_emu_tex_plane(v, gpupool_emu_tex_layer(v, layer, 1), x, y, 0.0f, out);
}

/*
 * texCubemapLayered (texCubemap: layer 0): the face is the direction's major axis (+x, -x, +y, -y, +z,
 * -z: faces 0 to 5), and the face coordinates ((s / m + 1) / 2, (t / m + 1) / 2), as the CUDA
 * programming guide's cubemap table gives s, t and m; sampled as normalised coordinates clamped to
 * the face (a cubemap's fetch never leaves its face).
 */
static inline void gpupool_emu_tex_cubemap_layered(const gpupool_emu_texture_view *v, float x, float y, float z, int layer,
                                                   float out[4])
{
    float ax = fabsf(x), ay = fabsf(y), az = fabsf(z), m, s, t;
    size_t face;
    if (ax >= ay && ax >= az) {
        face = x >= 0 ? 0 : 1, m = ax, s = x >= 0 ? -z : z, t = -y;
    } else if (ay >= az) {
        face = y >= 0 ? 2 : 3, m = ay, s = x, t = y >= 0 ? z : -z;
    } else {
        face = z >= 0 ? 4 : 5, m = az, s = z >= 0 ? x : -x, t = -y;
    }
    gpupool_emu_texture_view f = *v;
    f.dims = 2;
    f.address[0] = f.address[1] = CU_TR_ADDRESS_MODE_CLAMP;
    float u[3] = { (s / m + 1.0f) * 0.5f * (float)v->extent[0], (t / m + 1.0f) * 0.5f * (float)v->extent[1], 0.0f };
    gpupool_emu_tex_filter(&f, v->base + (gpupool_emu_tex_layer(v, layer, 6) * 6 + face) * v->slice, u, out);
}

static inline void gpupool_emu_tex_cubemap(const gpupool_emu_texture_view *v, float x, float y, float z, float out[4])
{
    gpupool_emu_tex_cubemap_layered(v, x, y, z, 0, out);
}

/* tex1D/tex2D/tex3D (a layered texture: z is the layer; a cubemap: (x, y, z) its direction). */
static inline void gpupool_emu_tex(const gpupool_emu_texture_view *v, float x, float y, float z, float out[4])
{
    if (v->kind & GPUPOOL_EMU_TEX_CUBEMAP)
        gpupool_emu_tex_cubemap_layered(v, x, y, z, 0, out);
    else if (v->kind & GPUPOOL_EMU_TEX_LAYERED)
        gpupool_emu_tex_layered(v, x, y, (int)z, out);
    else
        gpupool_emu_tex_plane(v, 0, x, y, z, out);
}

/* The first channel of tex(): what tex2D<float> returns. */
static inline float gpupool_emu_tex1f(const gpupool_emu_texture_view *v, float x, float y, float z)
{
    float texel[4];
    gpupool_emu_tex(v, x, y, z, texel);
    return texel[0];
}

#endif /* GPUPOOL_EMU_TEXTURE_H */
