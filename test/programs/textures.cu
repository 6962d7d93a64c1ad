// Texture and surface objects through gpupool (issue 11), as simpleTexture, simplePitchLinearTexture
// and simpleSurfaceWrite use them: a 2D float array sampled with point filtering, normalised
// coordinates and wrapping; with linear filtering and clamping; pitched device memory sampled with
// clamping; an 8-bit array read as normalised floats with a border; a surface written by a kernel and
// read back; a texture's resource description naming the program's own array. Its kernels are the
// emulator's test kernels (native/fakes/cuda/kernels).
#include <cmath>
#include <cstdio>
#include <vector>

#include "cudart_check.h"
#include "expect.h"
// tex_sample and surf_fill, as the emulator's CPU versions implement them.
#include "../../native/fakes/cuda/kernels/test_kernels.cu"

static const int W = 16, H = 8;

static float value(int x, int y) { return (float)x + 100.0f * (float)y; }

// Samples tex over W x H with the offsets, into host memory.
static std::vector<float> sample(cudaTextureObject_t tex, float dx, float dy, int norm)
{
    float *out;
    std::vector<float> host(W * H);
    CHECK(cudaMalloc(&out, W * H * sizeof(float)));
    tex_sample<<<dim3(1, 1), dim3(W, H)>>>(tex, out, W, H, dx, dy, norm);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(host.data(), out, W * H * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaFree(out));
    return host;
}

template <typename F>
static bool all(F expected, const std::vector<float> &got, float tolerance = 0.0f)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (std::fabs(got[y * W + x] - expected(x, y)) > tolerance) {
                fprintf(stderr, "at (%d, %d): %f, expected %f\n", x, y, got[y * W + x], expected(x, y));
                return false;
            }
    return true;
}

static cudaTextureObject_t texture(const cudaResourceDesc &res, cudaTextureFilterMode filter, cudaTextureAddressMode mode, bool normalized,
                                   cudaTextureReadMode read = cudaReadModeElementType)
{
    cudaTextureDesc desc = {};
    desc.addressMode[0] = desc.addressMode[1] = mode;
    desc.filterMode = filter;
    desc.readMode = read;
    desc.normalizedCoords = normalized;
    cudaTextureObject_t tex;
    CHECK(cudaCreateTextureObject(&tex, &res, &desc, nullptr));
    return tex;
}

int main()
{
    std::vector<float> image(W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            image[y * W + x] = value(x, y);
    cudaChannelFormatDesc f32 = cudaCreateChannelDesc<float>();
    cudaArray_t array;
    CHECK(cudaMallocArray(&array, &f32, W, H));
    CHECK(cudaMemcpy2DToArray(array, 0, 0, image.data(), W * sizeof(float), W * sizeof(float), H, cudaMemcpyHostToDevice));
    cudaResourceDesc res = {};
    res.resType = cudaResourceTypeArray;
    res.res.array.array = array;

    cudaTextureObject_t wrap = texture(res, cudaFilterModePoint, cudaAddressModeWrap, true);
    expect(all([](int x, int y) { return value((x + W / 2) % W, y); }, sample(wrap, 0.5f + W / 2, 0.5f, 1)),
           "point filtering, normalised coordinates, wrapping");
    cudaResourceDesc back = {};
    CHECK(cudaGetTextureObjectResourceDesc(&back, wrap));
    expect(back.resType == cudaResourceTypeArray && back.res.array.array == array, "a texture's resource is the program's array");
    CHECK(cudaDestroyTextureObject(wrap));

    cudaTextureObject_t linear = texture(res, cudaFilterModeLinear, cudaAddressModeClamp, false);
    expect(all([](int x, int y) { return (value(x, y) + value(x + 1 < W ? x + 1 : W - 1, y)) / 2; }, sample(linear, 1.0f, 0.5f, 0), 1e-3f),
           "linear filtering between texels, clamped at the edge");
    CHECK(cudaDestroyTextureObject(linear));

    float *pitched;
    size_t pitch;
    CHECK(cudaMallocPitch(&pitched, &pitch, W * sizeof(float), H));
    CHECK(cudaMemcpy2D(pitched, pitch, image.data(), W * sizeof(float), W * sizeof(float), H, cudaMemcpyHostToDevice));
    cudaResourceDesc pres = {};
    pres.resType = cudaResourceTypePitch2D;
    pres.res.pitch2D.devPtr = pitched;
    pres.res.pitch2D.desc = f32;
    pres.res.pitch2D.width = W;
    pres.res.pitch2D.height = H;
    pres.res.pitch2D.pitchInBytes = pitch;
    cudaTextureObject_t pitch_tex = texture(pres, cudaFilterModePoint, cudaAddressModeClamp, false);
    expect(all([](int x, int y) { return value(x >= 3 ? x - 3 : 0, y); }, sample(pitch_tex, -2.5f, 0.5f, 0)),
           "pitched device memory sampled, clamped");
    CHECK(cudaDestroyTextureObject(pitch_tex));
    CHECK(cudaFree(pitched));

    std::vector<unsigned char> bytes(W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            bytes[y * W + x] = (unsigned char)((x * 13 + y * 7) & 255);
    cudaChannelFormatDesc u8 = cudaCreateChannelDesc<unsigned char>();
    cudaArray_t byte_array;
    CHECK(cudaMallocArray(&byte_array, &u8, W, H));
    CHECK(cudaMemcpy2DToArray(byte_array, 0, 0, bytes.data(), W, W, H, cudaMemcpyHostToDevice));
    cudaResourceDesc bres = {};
    bres.resType = cudaResourceTypeArray;
    bres.res.array.array = byte_array;
    cudaTextureObject_t norm = texture(bres, cudaFilterModePoint, cudaAddressModeBorder, false, cudaReadModeNormalizedFloat);
    expect(all([&](int x, int y) { return y == 0 ? 0.0f : (float)bytes[(y - 1) * W + x] / 255.0f; }, sample(norm, 0.5f, -0.5f, 0), 1e-6f),
           "8-bit texels read as normalised floats, the border outside");
    CHECK(cudaDestroyTextureObject(norm));
    CHECK(cudaFreeArray(byte_array));

    cudaArray_t surface_array;
    CHECK(cudaMallocArray(&surface_array, &f32, W, H, cudaArraySurfaceLoadStore));
    cudaResourceDesc sres = {};
    sres.resType = cudaResourceTypeArray;
    sres.res.array.array = surface_array;
    cudaSurfaceObject_t surf;
    CHECK(cudaCreateSurfaceObject(&surf, &sres));
    surf_fill<<<dim3(1, 1), dim3(W, H)>>>(surf, W, H);
    CHECK(cudaGetLastError());
    std::vector<float> written(W * H, -1.0f);
    CHECK(cudaMemcpy2DFromArray(written.data(), W * sizeof(float), surface_array, 0, 0, W * sizeof(float), H, cudaMemcpyDeviceToHost));
    expect(all([](int x, int y) { return (float)x + 1000.0f * (float)y; }, written), "a kernel writes an array through a surface");
    CHECK(cudaDestroySurfaceObject(surf));
    CHECK(cudaFreeArray(surface_array));
    CHECK(cudaFreeArray(array));

    if (failures != 0)
        return 1;
    printf("PASS\n");
    return 0;
}
