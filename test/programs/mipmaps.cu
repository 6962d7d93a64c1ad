// Mipmapped textures through gpupool (issue 11), as bindlessTexture uses them: a level of a mipmapped
// array (made without cudaArraySurfaceLoadStore) written through a surface object; a mipmapped
// texture sampled at levels of detail, between levels with linear mipmap filtering and at the nearest
// level with point filtering, clamped to the descriptor's levels; and a 32-bit integer texture read
// as integers, exactly (bindlessTexture keeps texture handles in one). Its kernels are the emulator's
// test kernels (native/fakes/cuda/kernels).
#include <cstdio>
#include <cstring>
#include <vector>

#include "cudart_check.h"
#include "expect.h"
// surf_fill, tex_lod and tex_uint2, as the emulator's CPU versions implement them.
#include "../../native/fakes/cuda/kernels/test_kernels.cu"

static const int SIZE = 8, LEVELS = 4;

// The texels of each level sampled at each level of detail.
static std::vector<float> sample(cudaTextureObject_t tex, const std::vector<float> &lods)
{
    float *out, *dev_lods;
    int n = (int)lods.size();
    std::vector<float> host(n);
    CHECK(cudaMalloc(&out, n * sizeof(float)));
    CHECK(cudaMalloc(&dev_lods, n * sizeof(float)));
    CHECK(cudaMemcpy(dev_lods, lods.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    tex_lod<<<1, n>>>(tex, out, dev_lods, n);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(host.data(), out, n * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaFree(out));
    CHECK(cudaFree(dev_lods));
    return host;
}

static bool same(const std::vector<float> &got, const std::vector<float> &want)
{
    for (size_t i = 0; i < want.size(); i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "sample %zu: %f, expected %f\n", i, got[i], want[i]);
            return false;
        }
    return true;
}

int main()
{
    cudaChannelFormatDesc desc = cudaCreateChannelDesc<float>();
    cudaMipmappedArray_t mipmap;
    CHECK(cudaMallocMipmappedArray(&mipmap, &desc, make_cudaExtent(SIZE, SIZE, 0), LEVELS));

    // Level 1 (4 x 4) written by a kernel through a surface, read back.
    cudaArray_t level1;
    CHECK(cudaGetMipmappedArrayLevel(&level1, mipmap, 1));
    cudaResourceDesc res;
    memset(&res, 0, sizeof res);
    res.resType = cudaResourceTypeArray;
    res.res.array.array = level1;
    cudaSurfaceObject_t surf = 0;
    cudaError_t e = cudaCreateSurfaceObject(&surf, &res);
    expect(e == cudaSuccess, "a surface object on a level of a mipmapped array");
    if (e == cudaSuccess) {
        surf_fill<<<1, dim3(4, 4)>>>(surf, 4, 4);
        CHECK(cudaDeviceSynchronize());
        float back[16];
        CHECK(cudaMemcpy2DFromArray(back, 4 * sizeof(float), level1, 0, 0, 4 * sizeof(float), 4, cudaMemcpyDeviceToHost));
        bool ok = true;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                ok = ok && back[y * 4 + x] == (float)x + 1000.0f * (float)y;
        expect(ok, "a kernel writes the level through the surface");
        CHECK(cudaDestroySurfaceObject(surf));
    }

    // Each level filled with one value: 1, 2, 4, 8.
    for (int l = 0, n = SIZE; l < LEVELS; l++, n /= 2) {
        cudaArray_t level;
        CHECK(cudaGetMipmappedArrayLevel(&level, mipmap, l));
        std::vector<float> fill(n * n, (float)(1 << l));
        CHECK(cudaMemcpy2DToArray(level, 0, 0, fill.data(), n * sizeof(float), n * sizeof(float), n, cudaMemcpyHostToDevice));
    }
    memset(&res, 0, sizeof res);
    res.resType = cudaResourceTypeMipmappedArray;
    res.res.mipmap.mipmap = mipmap;
    cudaTextureDesc tex_desc;
    memset(&tex_desc, 0, sizeof tex_desc);
    tex_desc.normalizedCoords = 1;
    tex_desc.filterMode = cudaFilterModePoint;
    tex_desc.addressMode[0] = tex_desc.addressMode[1] = cudaAddressModeClamp;
    tex_desc.readMode = cudaReadModeElementType;
    tex_desc.mipmapFilterMode = cudaFilterModeLinear;
    tex_desc.maxMipmapLevelClamp = LEVELS - 1;
    cudaTextureObject_t tex;
    CHECK(cudaCreateTextureObject(&tex, &res, &tex_desc, NULL));
    expect(same(sample(tex, { 0.0f, 1.0f, 2.0f, 3.0f }), { 1.0f, 2.0f, 4.0f, 8.0f }), "tex2DLod at each level");
    expect(same(sample(tex, { 0.5f, 2.25f }), { 1.5f, 5.0f }), "linear mipmap filtering between levels");
    expect(same(sample(tex, { -1.0f, 10.0f }), { 1.0f, 8.0f }), "the level of detail clamped to the levels");
    CHECK(cudaDestroyTextureObject(tex));
    tex_desc.mipmapFilterMode = cudaFilterModePoint;
    CHECK(cudaCreateTextureObject(&tex, &res, &tex_desc, NULL));
    expect(same(sample(tex, { 0.25f, 0.75f, 2.75f }), { 1.0f, 2.0f, 8.0f }), "point mipmap filtering takes the nearest level");
    CHECK(cudaDestroyTextureObject(tex));
    CHECK(cudaFreeMipmappedArray(mipmap));

    // A uint2 texel read as integers: values no float holds.
    cudaChannelFormatDesc u2 = cudaCreateChannelDesc<uint2>();
    cudaArray_t array;
    CHECK(cudaMallocArray(&array, &u2, 1, 1));
    const unsigned want[2] = { 0xDEADBEEFu, 0x12345679u };
    CHECK(cudaMemcpy2DToArray(array, 0, 0, want, sizeof want, sizeof want, 1, cudaMemcpyHostToDevice));
    memset(&res, 0, sizeof res);
    res.resType = cudaResourceTypeArray;
    res.res.array.array = array;
    memset(&tex_desc, 0, sizeof tex_desc);
    tex_desc.normalizedCoords = 1;
    tex_desc.readMode = cudaReadModeElementType;
    CHECK(cudaCreateTextureObject(&tex, &res, &tex_desc, NULL));
    unsigned *out, got[2] = { 0, 0 };
    CHECK(cudaMalloc(&out, sizeof got));
    tex_uint2<<<1, 1>>>(tex, out);
    CHECK(cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost));
    expect(got[0] == want[0] && got[1] == want[1], "a uint2 texture read as integers, exactly");
    CHECK(cudaFree(out));
    CHECK(cudaDestroyTextureObject(tex));
    CHECK(cudaFreeArray(array));

    if (failures == 0)
        printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
