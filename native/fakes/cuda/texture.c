/*
 * Texture and surface objects, and what a CPU kernel samples through them (launch->texture,
 * launch->texture_lod, launch->texture_view, launch->surface; docs/emulator.md). An object is a struct
 * whose address is its value. A texture views an array, a mipmapped array (launch->texture: its level
 * 0; texture_lod: the levels about the level of detail), linear or pitched device memory of its
 * context; a surface views an array made with CUDA_ARRAY3D_SURFACE_LDST or a level of a mipmapped
 * array. Sampling reads the resource under the lock: point and linear filtering (between levels too),
 * the wrap, clamp, mirror and border address modes, normalised coordinates, the read modes, layered
 * and cubemap textures: the fetches of gpupool_emu_texture.h, which CPU kernels also inline
 * (launch->texture_view resolves an object once per launch). Anisotropy is not emulated.
 */
#include "emu.h"

#include "../../common/array_bytes.h"

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

/* Lock held: the levels of a mipmapped resource (1 for any other), 0 when it is gone. */
static unsigned levels_of(const CUDA_RESOURCE_DESC *r)
{
    if (r->resType != CU_RESOURCE_TYPE_MIPMAPPED_ARRAY)
        return 1;
    return emu_handle_is(r->res.mipmap.hMipmappedArray, EMU_H_MIPMAP) ? r->res.mipmap.hMipmappedArray->levels : 0;
}

/*
 * Lock held: the texture's resource (a mipmapped array: its level `level`) as it is now in ctx (the
 * sampling state from tex, when given), and the array or allocation behind it; or false when it is
 * gone or not of ctx.
 */
static bool view_level_of(CUcontext ctx, const CUDA_RESOURCE_DESC *r, unsigned level, const CUDA_TEXTURE_DESC *tex,
                          gpupool_emu_texture_view *v, struct CUarray_st **array, emu_alloc **alloc)
{
    memset(v, 0, sizeof *v);
    *array = NULL;
    *alloc = NULL;
    if (tex != NULL) {
        v->linear = tex->filterMode == CU_TR_FILTER_MODE_LINEAR;
        v->normalized = (tex->flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
        v->as_integer = (tex->flags & CU_TRSF_READ_AS_INTEGER) != 0;
        memcpy(v->address, tex->addressMode, sizeof v->address);
        /* Wrap and mirror need normalised coordinates; without them a GPU clamps (convolutionTexture
         * asks for wrap and checks against a clamped reference). */
        for (int k = 0; k < 3 && !v->normalized; k++)
            if (v->address[k] == CU_TR_ADDRESS_MODE_WRAP || v->address[k] == CU_TR_ADDRESS_MODE_MIRROR)
                v->address[k] = CU_TR_ADDRESS_MODE_CLAMP;
        memcpy(v->border, tex->borderColor, sizeof v->border);
    }
    int block = 0;
    v->extent[1] = v->extent[2] = v->layers = 1;
    if (r->resType == CU_RESOURCE_TYPE_ARRAY || r->resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY) {
        struct CUarray_st *a = r->resType == CU_RESOURCE_TYPE_ARRAY ? r->res.array.hArray
                               : level < levels_of(r)                 ? r->res.mipmap.hMipmappedArray->level[level]
                                                                      : NULL;
        if (a == NULL || !emu_handle_is(a, EMU_H_ARRAY) || a->ctx != ctx)
            return false;
        const CUDA_ARRAY3D_DESCRIPTOR_v2 *d = &a->desc;
        v->format = d->Format;
        v->channels = d->NumChannels;
        v->kind = ((d->Flags & CUDA_ARRAY3D_LAYERED) ? GPUPOOL_EMU_TEX_LAYERED : 0) |
                  ((d->Flags & CUDA_ARRAY3D_CUBEMAP) ? GPUPOOL_EMU_TEX_CUBEMAP : 0);
        v->extent[0] = d->Width;
        v->extent[1] = d->Height == 0 ? 1 : d->Height;
        size_t planes = d->Depth == 0 ? 1 : d->Depth;
        v->dims = d->Height == 0 ? 1 : v->kind != 0 || d->Depth == 0 ? 2 : 3;
        /* Layers and faces are planes a coordinate does not reach: the fetch picks one. */
        if (v->kind != 0)
            v->layers = planes;
        else
            v->extent[2] = planes;
        v->base = a->host;
        v->elem = gp_array_element_bytes(v->format, v->channels, &block);
        v->pitch = v->extent[0] * v->elem;
        v->slice = v->pitch * v->extent[1];
        *array = a;
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
    v->extent[0] = pitched ? r->res.pitch2D.width : r->res.linear.sizeInBytes / v->elem;
    v->extent[1] = pitched ? r->res.pitch2D.height : 1;
    v->pitch = pitched ? r->res.pitch2D.pitchInBytes : r->res.linear.sizeInBytes;
    v->slice = v->pitch * v->extent[1];
    v->dims = pitched ? 2 : 1;
    size_t bytes = (v->extent[1] - 1) * v->pitch + v->extent[0] * v->elem;
    uint64_t ptr = pitched ? r->res.pitch2D.devPtr : r->res.linear.devPtr;
    emu_alloc *a = v->extent[0] == 0 || v->extent[1] == 0 ? NULL : emu_find_device(ptr, bytes);
    if (a == NULL || a->ctx != ctx)
        return false;
    v->base = emu_host_of(a, ptr);
    *alloc = a;
    return true;
}

static bool view_of(CUcontext ctx, const CUDA_RESOURCE_DESC *r, const CUDA_TEXTURE_DESC *tex, gpupool_emu_texture_view *v,
                    struct CUarray_st **array, emu_alloc **alloc)
{
    return view_level_of(ctx, r, 0, tex, v, array, alloc);
}

/* Lock held: a texture object of ctx resolved for sampling, or false. */
bool emu_texture_view(CUcontext ctx, unsigned long long obj, gpupool_emu_texture_view *v, struct CUarray_st **array,
                      emu_alloc **alloc)
{
    emu_texture *t = (emu_texture *)(uintptr_t)obj;
    return ctx != NULL && emu_handle_is(t, EMU_H_TEXTURE) && t->ctx == ctx && view_of(ctx, &t->res, &t->tex, v, array, alloc);
}

int emu_texture_fetch(CUcontext ctx, unsigned long long obj, const float coord[3], float out[4])
{
    gpupool_emu_texture_view v;
    struct CUarray_st *array;
    emu_alloc *alloc;
    int rc = CUDA_ERROR_ILLEGAL_ADDRESS;
    emu_lock();
    if (emu_texture_view(ctx, obj, &v, &array, &alloc)) {
        gpupool_emu_tex(&v, coord[0], coord[1], coord[2], out);
        rc = CUDA_SUCCESS;
    }
    emu_unlock();
    return rc;
}

/* Whether tex<T> reads the resource as integers: 32-bit integer formats always, 8- and 16-bit ones
 * with CU_TRSF_READ_AS_INTEGER. */
static bool reads_integers(const gpupool_emu_texture_view *v)
{
    switch (v->format) {
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32: return true;
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16: return v->as_integer != 0;
    default: return false;
    }
}

/* One integer channel, sign- or zero-extended to 32 bits. */
static uint32_t int_channel(const gpupool_emu_texture_view *v, const unsigned char *p, unsigned c)
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

/* An integer read: the texel nearest the coordinates (integer textures are point-sampled), exact where
 * a float could not hold it. */
static void fetch_integers(const gpupool_emu_texture_view *v, const float coord[3], uint32_t out[4])
{
    long idx[3] = { 0, 0, 0 };
    for (int k = 0; k < v->dims; k++) {
        long at = (long)floorf(v->normalized ? coord[k] * (float)v->extent[k] : coord[k]);
        if ((idx[k] = gpupool_emu_tex_address(at, v->extent[k], v->address[k])) < 0) {
            for (int c = 0; c < 4; c++)
                out[c] = (uint32_t)(int32_t)v->border[c];
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
    gpupool_emu_texture_view v, next;
    struct CUarray_st *array;
    emu_alloc *alloc;
    int rc = CUDA_ERROR_ILLEGAL_ADDRESS;
    emu_lock();
    unsigned levels = ctx != NULL && emu_handle_is(t, EMU_H_TEXTURE) && t->ctx == ctx ? levels_of(&t->res) : 0;
    float l = levels > 0 ? level_of_detail(t, levels, lod) : 0.0f;
    unsigned level = (unsigned)l;
    if (levels > 0 && view_level_of(ctx, &t->res, level, &t->tex, &v, &array, &alloc)) {
        rc = CUDA_SUCCESS;
        float weight = l - (float)level, lower[4], upper[4];
        if (reads_integers(&v)) {
            fetch_integers(&v, coord, out);
        } else if (weight > 0.0f && level + 1 < levels && view_level_of(ctx, &t->res, level + 1, &t->tex, &next, &array, &alloc)) {
            /* Linear between levels: each level sampled as a texture of its own, then weighed. */
            gpupool_emu_tex(&v, coord[0], coord[1], coord[2], lower);
            gpupool_emu_tex(&next, coord[0], coord[1], coord[2], upper);
            for (int c = 0; c < 4; c++)
                lower[c] = (1.0f - weight) * lower[c] + weight * upper[c];
            memcpy(out, lower, sizeof lower);
        } else {
            gpupool_emu_tex(&v, coord[0], coord[1], coord[2], lower);
            memcpy(out, lower, sizeof lower);
        }
    }
    emu_unlock();
    return rc;
}

int emu_surface_access(CUcontext ctx, unsigned long long obj, size_t x_bytes, size_t y, size_t z, void *data, size_t bytes, bool store)
{
    emu_texture *t = (emu_texture *)(uintptr_t)obj;
    gpupool_emu_texture_view v;
    struct CUarray_st *array;
    emu_alloc *alloc;
    int rc = CUDA_ERROR_ILLEGAL_ADDRESS;
    emu_lock();
    /* Out of range traps, as a surface's default boundary mode does; a layered one's z is its layer. */
    if (ctx != NULL && emu_handle_is(t, EMU_H_SURFACE) && t->ctx == ctx && view_of(ctx, &t->res, NULL, &v, &array, &alloc) &&
        x_bytes <= v.pitch && bytes <= v.pitch - x_bytes && y < v.extent[1] && z < v.extent[2] * v.layers) {
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
    gpupool_emu_texture_view v;
    struct CUarray_st *array;
    emu_alloc *alloc;
    if (out == NULL || res == NULL || (!surface && tex == NULL) || res->flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = emu_enter_ctx(&ctx);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (res->resType == CU_RESOURCE_TYPE_ARRAY && !emu_handle_is(res->res.array.hArray, EMU_H_ARRAY))
        return emu_leave(CUDA_ERROR_INVALID_HANDLE);
    if (!view_of(ctx, res, tex, &v, &array, &alloc))
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
