/*
 * CPU kernels of bindlessTexture (3_CUDA_Features): texture objects passed as data (an atlas texture
 * whose texels are other textures' handles), mipmapped textures sampled at a level of detail, and
 * mipmap levels written through surface objects (launch->texture_lod, docs/emulator.md).
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>

/* (uchar)v per channel: the sample's to_uchar4, a truncating conversion. */
static void to_uchar4(const float c[4], unsigned char out[4])
{
    for (int k = 0; k < 4; k++)
        out[k] = (unsigned char)c[k];
}

/*
 * d_mipmap(cudaSurfaceObject_t mipOutput, cudaTextureObject_t mipInput, uint imageW, uint imageH): each
 * texel of the smaller level is the mean of four linear samples of the larger one, at normalised
 * (x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1) over the smaller level's size, times 255, at most 255.
 */
static int mipmap_level(const gpupool_emu_launch *l, void **params)
{
    unsigned long long surf = PARAM(unsigned long long, params, 0), tex = PARAM(unsigned long long, params, 1);
    unsigned w = PARAM(unsigned, params, 2), h = PARAM(unsigned, params, 3);
    size_t tw = (size_t)l->grid[0] * l->block[0], th = (size_t)l->grid[1] * l->block[1];
    float px = (float)(1.0 / (double)(float)w), py = (float)(1.0 / (double)(float)h);
    for (unsigned y = 0; y < h && y < th; y++)
        for (unsigned x = 0; x < w && x < tw; x++) {
            static const unsigned dx[4] = { 0, 1, 1, 0 }, dy[4] = { 0, 0, 1, 1 };
            float color[4] = { 0, 0, 0, 0 }, s[4];
            for (int k = 0; k < 4; k++) {
                int rc = l->texture(l, tex, (float)(x + dx[k]) * px, (float)(y + dy[k]) * py, 0, s);
                if (rc != CUDA_SUCCESS)
                    return rc;
                for (int c = 0; c < 4; c++)
                    color[c] = k == 0 ? s[c] : color[c] + s[c];
            }
            for (int c = 0; c < 4; c++)
                color[c] = fminf(color[c] / 4.0f * 255.0f, 255.0f);
            unsigned char texel[4];
            to_uchar4(color, texel);
            int rc = l->surface(l, surf, (size_t)x * sizeof texel, y, 0, texel, sizeof texel, 1);
            if (rc != CUDA_SUCCESS)
                return rc;
        }
    return CUDA_SUCCESS;
}

/*
 * d_render(uchar4 *d_output, uint imageW, uint imageH, float lod, cudaTextureObject_t atlasTexture):
 * each pixel reads a texture handle from the atlas (a uint2 texel) at normalised (u, v), then that
 * texture at (u, 1 - v) and level of detail lod, times 255.
 */
static int render_atlas(const gpupool_emu_launch *l, void **params)
{
    unsigned w = PARAM(unsigned, params, 1), h = PARAM(unsigned, params, 2);
    float lod = PARAM(float, params, 3);
    unsigned long long atlas = PARAM(unsigned long long, params, 4);
    size_t tw = (size_t)l->grid[0] * l->block[0], th = (size_t)l->grid[1] * l->block[1];
    unsigned char *out = DEVICE(l, PARAM(CUdeviceptr, params, 0), (long long)w * h, 4);
    if (w > 0 && h > 0 && tw > 0 && th > 0)
        NEED(out);
    for (unsigned y = 0; y < h && y < th; y++)
        for (unsigned x = 0; x < w && x < tw; x++) {
            float u = (float)x / (float)w, v = (float)y / (float)h;
            uint32_t coded[4];
            float color[4];
            int rc = l->texture_lod(l, atlas, u, v, 0, 0.0f, coded);
            if (rc != CUDA_SUCCESS)
                return rc;
            unsigned long long tex = (unsigned long long)coded[0] | (unsigned long long)coded[1] << 32;
            if ((rc = l->texture_lod(l, tex, u, 1 - v, 0, lod, color)) != CUDA_SUCCESS)
                return rc;
            for (int c = 0; c < 4; c++)
                color[c] *= 255.0f;
            to_uchar4(color, out + ((size_t)y * w + x) * 4);
        }
    return CUDA_SUCCESS;
}

const gpupool_emu_kernel bindless_kernels[] = {
    KERNEL("_Z8d_mipmapyyjj", mipmap_level, 8, 8, 4, 4),
    KERNEL("_Z8d_renderP6uchar4jjfy", render_atlas, 8, 4, 4, 4, 8),
};
const unsigned bindless_kernel_count = COUNT(bindless_kernels);
