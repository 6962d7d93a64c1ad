/*
 * Texture and surface objects, and what a CPU kernel samples through them (launch->texture,
 * launch->texture_lod, launch->surface; docs/emulator.md). An object is a struct whose address is its
 * value. A texture views an array, a mipmapped array (launch->texture: its level 0; texture_lod: the
 * levels about the level of detail), linear or pitched device memory of its context; a surface views
 * an array made with CUDA_ARRAY3D_SURFACE_LDST or a level of a mipmapped array. Sampling reads the
 * resource under the lock: point and linear filtering (between levels too), the wrap, clamp, mirror
 * and border address modes, normalised coordinates, and the read modes (an 8- or 16-bit integer
 * format reads as a normalised float unless CU_TRSF_READ_AS_INTEGER). Layered and cubemap sampling and
 * anisotropy are not emulated.
 */
#include "emu.h"

#include "../../common/array_bytes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct emu_texture {
    emu_link link;              /* in g_objects */
    CUcontext ctx;
    bool surface;
    CUDA_RESOURCE_DESC res;
    CUDA_TEXTURE_DESC tex;
} emu_texture;

static emu_link g_objects = { &g_objects, &g_objects };

/* What a fetch reads: the host memory of the resource and its shape, found under the lock. */
typedef struct {
    const unsigned char *base;
    size_t w, h, d;             /* elements, rows, planes (1 where the resource has fewer dimensions) */
    size_t pitch, slice;        /* bytes between rows, between planes */
    size_t elem;
    CUarray_format format;
    unsigned channels;
    int dims;
} view;

/* Lock held: the levels of a mipmapped resource (1 for any other), 0 when it is gone. */
static unsigned levels_of(const CUDA_RESOURCE_DESC *r)
{
    if (r->resType != CU_RESOURCE_TYPE_MIPMAPPED_ARRAY)
        return 1;
    return emu_handle_is(r->res.mipmap.hMipmappedArray, EMU_H_MIPMAP) ? r->res.mipmap.hMipmappedArray->levels : 0;
}

/* Lock held: the resource (a mipmapped array: its level `level`) as it is now in ctx, or false when
 * it is gone or not of ctx. */
static bool view_level(CUcontext ctx, const CUDA_RESOURCE_DESC *r, unsigned level, view *v)
{
    memset(v, 0, sizeof *v);
    int block = 0;
    v->h = v->d = 1;
    if (r->resType == CU_RESOURCE_TYPE_ARRAY || r->resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY) {
        struct CUarray_st *a = r->resType == CU_RESOURCE_TYPE_ARRAY ? r->res.array.hArray
                               : level < levels_of(r)                 ? r->res.mipmap.hMipmappedArray->level[level]
                                                                      : NULL;
        if (a == NULL || !emu_handle_is(a, EMU_H_ARRAY) || a->ctx != ctx)
            return false;
        v->format = a->desc.Format;
        v->channels = a->desc.NumChannels;
        v->w = a->desc.Width;
        v->h = a->desc.Height == 0 ? 1 : a->desc.Height;
        v->d = a->desc.Depth == 0 ? 1 : a->desc.Depth;
        v->dims = a->desc.Height == 0 ? 1 : a->desc.Depth == 0 ? 2 : 3;
        v->base = a->host;
        v->elem = gp_array_element_bytes(v->format, v->channels, &block);
        v->pitch = v->w * v->elem;
        v->slice = v->pitch * v->h;
        return v->elem != 0 && !block;
    }
    bool pitched = r->resType == CU_RESOURCE_TYPE_PITCH2D;
    if (!pitched && r->resType != CU_RESOURCE_TYPE_LINEAR)
        return false;
    v->format = pitched ? r->res.pitch2D.format : r->res.linear.format;
    v->channels = pitched ? r->res.pitch2D.numChannels : r->res.linear.numChannels;
    v->elem = gp_array_element_bytes(v->format, v->channels, &block);
    if (v->elem == 0 || block)
        return false;
    v->w = pitched ? r->res.pitch2D.width : r->res.linear.sizeInBytes / v->elem;
    v->h = pitched ? r->res.pitch2D.height : 1;
    v->pitch = pitched ? r->res.pitch2D.pitchInBytes : r->res.linear.sizeInBytes;
    v->slice = v->pitch * v->h;
    v->dims = pitched ? 2 : 1;
    size_t bytes = (v->h - 1) * v->pitch + v->w * v->elem;
    uint64_t ptr = pitched ? r->res.pitch2D.devPtr : r->res.linear.devPtr;
    emu_alloc *a = v->w == 0 || v->h == 0 ? NULL : emu_find_device(ptr, bytes);
    if (a == NULL || a->ctx != ctx)
        return false;
    v->base = emu_host_of(a, ptr);
    return true;
}

static bool view_of(CUcontext ctx, const CUDA_RESOURCE_DESC *r, view *v)
{
    return view_level(ctx, r, 0, v);
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v = exp == 0 ? ldexpf((float)mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

/* One channel as the read mode gives it. */
static float channel(const view *v, const unsigned char *p, unsigned c, bool as_integer)
{
    switch (v->format) {
    case CU_AD_FORMAT_UNSIGNED_INT8: return as_integer ? (float)p[c] : (float)p[c] / 255.0f;
    case CU_AD_FORMAT_SIGNED_INT8: {
        float x = (float)(int8_t)p[c];
        return as_integer ? x : fmaxf(x / 127.0f, -1.0f);
    }
    case CU_AD_FORMAT_UNSIGNED_INT16: {
        uint16_t x;
        memcpy(&x, p + 2 * c, 2);
        return as_integer ? (float)x : (float)x / 65535.0f;
    }
    case CU_AD_FORMAT_SIGNED_INT16: {
        int16_t x;
        memcpy(&x, p + 2 * c, 2);
        return as_integer ? (float)x : fmaxf((float)x / 32767.0f, -1.0f);
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
        return half_to_float(x);
    }
    case CU_AD_FORMAT_FLOAT: {
        float x;
        memcpy(&x, p + 4 * c, 4);
        return x;
    }
    default: return 0.0f;
    }
}

/* An integer coordinate through the address mode: the index, or -1 for the border. */
static long address(long i, size_t n, CUaddress_mode mode)
{
    long len = (long)n;
    switch (mode) {
    case CU_TR_ADDRESS_MODE_WRAP: return ((i % len) + len) % len;
    case CU_TR_ADDRESS_MODE_MIRROR: {
        long period = 2 * len, m = ((i % period) + period) % period;
        return m < len ? m : period - 1 - m;
    }
    case CU_TR_ADDRESS_MODE_BORDER: return i < 0 || i >= len ? -1 : i;
    default: return i < 0 ? 0 : i >= len ? len - 1 : i; /* clamp */
    }
}

/* The texel at integer coordinates (through the address modes), each channel as a float. */
static void texel(const view *v, const emu_texture *t, const long at[3], float out[4])
{
    const size_t extent[3] = { v->w, v->h, v->d };
    long idx[3] = { 0, 0, 0 };
    for (int k = 0; k < v->dims; k++)
        if ((idx[k] = address(at[k], extent[k], t->tex.addressMode[k])) < 0) {
            for (int c = 0; c < 4; c++)
                out[c] = t->tex.borderColor[c];
            return;
        }
    const unsigned char *p = v->base + (size_t)idx[2] * v->slice + (size_t)idx[1] * v->pitch + (size_t)idx[0] * v->elem;
    bool as_integer = (t->tex.flags & CU_TRSF_READ_AS_INTEGER) != 0;
    for (unsigned c = 0; c < 4; c++)
        out[c] = c < v->channels ? channel(v, p, c, as_integer) : 0.0f;
}

static void fetch(const view *v, const emu_texture *t, const float coord[3], float out[4])
{
    float u[3] = { coord[0], coord[1], coord[2] };
    const size_t extent[3] = { v->w, v->h, v->d };
    bool normalized = (t->tex.flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
    for (int k = 0; k < v->dims; k++)
        if (normalized)
            u[k] *= (float)extent[k];
    if (t->tex.filterMode != CU_TR_FILTER_MODE_LINEAR) {
        long at[3] = { 0, 0, 0 };
        for (int k = 0; k < v->dims; k++)
            at[k] = (long)floorf(u[k]);
        texel(v, t, at, out);
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
    memset(out, 0, 4 * sizeof *out);
    for (int corner = 0; corner < (1 << v->dims); corner++) {
        long at[3] = { base[0], base[1], base[2] };
        float weight = 1.0f, px[4];
        for (int k = 0; k < v->dims; k++) {
            int up = (corner >> k) & 1;
            at[k] += up;
            weight *= up ? frac[k] : 1.0f - frac[k];
        }
        texel(v, t, at, px);
        for (int c = 0; c < 4; c++)
            out[c] += weight * px[c];
    }
}

int emu_texture_fetch(CUcontext ctx, unsigned long long obj, const float coord[3], float out[4])
{
    emu_texture *t = (emu_texture *)(uintptr_t)obj;
    view v;
    int rc = CUDA_ERROR_ILLEGAL_ADDRESS;
    emu_lock();
    if (ctx != NULL && emu_handle_is(t, EMU_H_TEXTURE) && t->ctx == ctx && view_of(ctx, &t->res, &v)) {
        fetch(&v, t, coord, out);
        rc = CUDA_SUCCESS;
    }
    emu_unlock();
    return rc;
}

/* Whether tex<T> reads the resource as integers: 32-bit integer formats always, 8- and 16-bit ones
 * with CU_TRSF_READ_AS_INTEGER. */
static bool reads_integers(const view *v, const emu_texture *t)
{
    switch (v->format) {
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32: return true;
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16: return (t->tex.flags & CU_TRSF_READ_AS_INTEGER) != 0;
    default: return false;
    }
}

/* One integer channel, sign- or zero-extended to 32 bits. */
static uint32_t int_channel(const view *v, const unsigned char *p, unsigned c)
{
    switch (v->format) {
    case CU_AD_FORMAT_UNSIGNED_INT8: return p[c];
    case CU_AD_FORMAT_SIGNED_INT8: return (uint32_t)(int32_t)(int8_t)p[c];
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16: {
        uint16_t x;
        memcpy(&x, p + 2 * c, 2);
        return v->format == CU_AD_FORMAT_SIGNED_INT16 ? (uint32_t)(int32_t)(int16_t)x : x;
    }
    default: {
        uint32_t x;
        memcpy(&x, p + 4 * c, 4);
        return x;
    }
    }
}

/* An integer read: the texel nearest the coordinates (integer textures are point-sampled). */
static void fetch_integers(const view *v, const emu_texture *t, const float coord[3], uint32_t out[4])
{
    const size_t extent[3] = { v->w, v->h, v->d };
    long at[3] = { 0, 0, 0 }, idx[3] = { 0, 0, 0 };
    bool normalized = (t->tex.flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
    for (int k = 0; k < v->dims; k++) {
        at[k] = (long)floorf(normalized ? coord[k] * (float)extent[k] : coord[k]);
        if ((idx[k] = address(at[k], extent[k], t->tex.addressMode[k])) < 0) {
            for (int c = 0; c < 4; c++)
                out[c] = (uint32_t)(int32_t)t->tex.borderColor[c];
            return;
        }
    }
    const unsigned char *p = v->base + (size_t)idx[2] * v->slice + (size_t)idx[1] * v->pitch + (size_t)idx[0] * v->elem;
    for (unsigned c = 0; c < 4; c++)
        out[c] = c < v->channels ? int_channel(v, p, c) : 0;
}

/*
 * Lock held. The level of detail as the texture applies it: biased, clamped to the descriptor's
 * [min, max] level clamp and to the levels there are; with point mipmap filtering the nearest level.
 */
static float level_of_detail(const emu_texture *t, unsigned levels, float lod)
{
    float l = lod + t->tex.mipmapLevelBias;
    l = fminf(fmaxf(l, t->tex.minMipmapLevelClamp), t->tex.maxMipmapLevelClamp);
    l = fminf(fmaxf(l, 0.0f), (float)(levels - 1));
    return t->tex.mipmapFilterMode == CU_TR_FILTER_MODE_LINEAR ? l : floorf(l + 0.5f);
}

int emu_texture_fetch_lod(CUcontext ctx, unsigned long long obj, const float coord[3], float lod, void *out)
{
    emu_texture *t = (emu_texture *)(uintptr_t)obj;
    view v, next;
    int rc = CUDA_ERROR_ILLEGAL_ADDRESS;
    emu_lock();
    unsigned levels = ctx != NULL && emu_handle_is(t, EMU_H_TEXTURE) && t->ctx == ctx ? levels_of(&t->res) : 0;
    float l = levels > 0 ? level_of_detail(t, levels, lod) : 0.0f;
    unsigned level = (unsigned)l;
    if (levels > 0 && view_level(ctx, &t->res, level, &v)) {
        rc = CUDA_SUCCESS;
        float weight = l - (float)level, lower[4], upper[4];
        if (reads_integers(&v, t)) {
            fetch_integers(&v, t, coord, out);
        } else if (weight > 0.0f && level + 1 < levels && view_level(ctx, &t->res, level + 1, &next)) {
            /* Linear between levels: each level sampled as a texture of its own, then weighed. */
            fetch(&v, t, coord, lower);
            fetch(&next, t, coord, upper);
            for (int c = 0; c < 4; c++)
                lower[c] = (1.0f - weight) * lower[c] + weight * upper[c];
            memcpy(out, lower, sizeof lower);
        } else {
            fetch(&v, t, coord, lower);
            memcpy(out, lower, sizeof lower);
        }
    }
    emu_unlock();
    return rc;
}

int emu_surface_access(CUcontext ctx, unsigned long long obj, size_t x_bytes, size_t y, size_t z, void *data, size_t bytes, bool store)
{
    emu_texture *t = (emu_texture *)(uintptr_t)obj;
    view v;
    int rc = CUDA_ERROR_ILLEGAL_ADDRESS;
    emu_lock();
    /* Out of range traps, as a surface's default boundary mode does. */
    if (ctx != NULL && emu_handle_is(t, EMU_H_SURFACE) && t->ctx == ctx && view_of(ctx, &t->res, &v) && x_bytes <= v.pitch &&
        bytes <= v.pitch - x_bytes && y < v.h && z < v.d) {
        unsigned char *p = (unsigned char *)v.base + z * v.slice + y * v.pitch + x_bytes;
        if (store)
            memcpy(p, data, bytes);
        else
            memcpy(data, p, bytes);
        rc = CUDA_SUCCESS;
    }
    emu_unlock();
    return rc;
}

/* ---- the objects ----------------------------------------------------------------------------- */

static CUresult create(unsigned long long *out, const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex, bool surface)
{
    CUcontext ctx;
    view v;
    if (out == NULL || res == NULL || (!surface && tex == NULL) || res->flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (res->resType == CU_RESOURCE_TYPE_ARRAY && !emu_handle_is(res->res.array.hArray, EMU_H_ARRAY))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    if (!view_of(ctx, res, &v))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    /* A surface needs an array made for load/store, or a level of a mipmapped array: NVIDIA's
     * bindlessTexture writes levels of one made without the flag, as a driver lets it. */
    if (surface && (res->resType != CU_RESOURCE_TYPE_ARRAY ||
                    ((res->res.array.hArray->desc.Flags & CUDA_ARRAY3D_SURFACE_LDST) == 0 && res->res.array.hArray->mipmap == NULL)))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    emu_texture *t = calloc(1, sizeof *t);
    if (t == NULL || !emu_handle_add(t, surface ? EMU_H_SURFACE : EMU_H_TEXTURE)) {
        free(t);
        return emu_leave(CUDA_ERROR_OUT_OF_MEMORY);
    }
    t->ctx = ctx;
    t->surface = surface;
    t->res = *res;
    if (tex != NULL)
        t->tex = *tex;
    emu_list_add(&g_objects, &t->link);
    *out = (unsigned long long)(uintptr_t)t;
    return emu_leave(CUDA_SUCCESS);
}

static void destroy(emu_texture *t)
{
    emu_handle_remove(t);
    emu_list_del(&t->link);
    free(t);
}

void emu_free_ctx_textures(CUcontext ctx)
{
    EMU_FOR_EACH_SAFE (pos, &g_objects) {
        emu_texture *t = EMU_CONTAINER(pos, emu_texture, link);
        if (t->ctx == ctx)
            destroy(t);
    }
}

/* Locked with the object on success. */
static CUresult enter_object(unsigned long long obj, bool surface, emu_texture **out)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    *out = (emu_texture *)(uintptr_t)obj;
    return emu_handle_is(*out, surface ? EMU_H_SURFACE : EMU_H_TEXTURE) ? CUDA_SUCCESS : emu_leave(CUDA_ERROR_INVALID_VALUE);
}

static CUresult destroy_object(unsigned long long obj, bool surface)
{
    emu_texture *t;
    CUresult rc = enter_object(obj, surface, &t);
    if (rc != CUDA_SUCCESS)
        return rc;
    destroy(t);
    return emu_leave(CUDA_SUCCESS);
}

static CUresult resource_of(CUDA_RESOURCE_DESC *out, unsigned long long obj, bool surface)
{
    emu_texture *t;
    if (out == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_object(obj, surface, &t);
    if (rc != CUDA_SUCCESS)
        return rc;
    *out = t->res;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuTexObjectCreate(CUtexObject *pTexObject, const CUDA_RESOURCE_DESC *pResDesc, const CUDA_TEXTURE_DESC *pTexDesc,
                                   const CUDA_RESOURCE_VIEW_DESC *pResViewDesc)
{
    (void)pResViewDesc; /* a view's format and sub-range are not emulated: the whole resource is sampled */
    return create(pTexObject, pResDesc, pTexDesc, false);
}

CUresult CUDAAPI cuTexObjectDestroy(CUtexObject texObject)
{
    return destroy_object(texObject, false);
}

CUresult CUDAAPI cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUtexObject texObject)
{
    return resource_of(pResDesc, texObject, false);
}

CUresult CUDAAPI cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *pTexDesc, CUtexObject texObject)
{
    emu_texture *t;
    if (pTexDesc == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = enter_object(texObject, false, &t);
    if (rc != CUDA_SUCCESS)
        return rc;
    *pTexDesc = t->tex;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuSurfObjectCreate(CUsurfObject *pSurfObject, const CUDA_RESOURCE_DESC *pResDesc)
{
    return create(pSurfObject, pResDesc, NULL, true);
}

CUresult CUDAAPI cuSurfObjectDestroy(CUsurfObject surfObject)
{
    return destroy_object(surfObject, true);
}

CUresult CUDAAPI cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUsurfObject surfObject)
{
    return resource_of(pResDesc, surfObject, true);
}
