// Texture and surface objects through gpupool (issue 11), as simpleTexture, simplePitchLinearTexture
// and simpleSurfaceWrite use them: a 2D float array sampled with point filtering, normalised
// coordinates and wrapping; with linear filtering and clamping; pitched device memory sampled with
// clamping; an 8-bit array read as normalised floats with a border; a surface written by a kernel and
// read back; a texture's resource description naming the program's own array; layered and cubemap
// arrays sampled as simpleLayeredTexture and simpleCubemapTexture do. Its kernels are the
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

// A layered 2D array of 3 layers (layer l: value + 10000 l) sampled by layer, point filtering; then a
// cubemap of W x W faces (face f: value + 10000 f) sampled along directions through each face's
// texel centres, linear filtering with normalised coordinates (simpleLayeredTexture's and
// simpleCubemapTexture's settings), which must give each face's own texels.
static void layered_and_cubemap(const std::vector<float> &image)
{
    const int layers = 3;
    cudaChannelFormatDesc f32 = cudaCreateChannelDesc<float>();
    std::vector<float> stack(W * H * layers), got(W * H * layers, -1.0f);
    for (int l = 0; l < layers; l++)
        for (int i = 0; i < W * H; i++)
            stack[l * W * H + i] = image[i] + 10000.0f * (float)l;
    cudaArray_t layered;
    CHECK(cudaMalloc3DArray(&layered, &f32, make_cudaExtent(W, H, layers), cudaArrayLayered));
    cudaMemcpy3DParms copy = {};
    copy.srcPtr = make_cudaPitchedPtr(stack.data(), W * sizeof(float), W, H);
    copy.dstArray = layered;
    copy.extent = make_cudaExtent(W, H, layers);
    copy.kind = cudaMemcpyHostToDevice;
    CHECK(cudaMemcpy3D(&copy));
    cudaResourceDesc lres = {};
    lres.resType = cudaResourceTypeArray;
    lres.res.array.array = layered;
    cudaTextureObject_t ltex = texture(lres, cudaFilterModePoint, cudaAddressModeClamp, false);
    float *out;
    CHECK(cudaMalloc(&out, 6 * W * W * sizeof(float)));
    tex_layers<<<dim3(1, 1), dim3(W, H)>>>(ltex, out, W, H, layers);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(got.data(), out, W * H * layers * sizeof(float), cudaMemcpyDeviceToHost));
    expect(got == stack, "a layered texture sampled layer by layer");
    CHECK(cudaDestroyTextureObject(ltex));
    CHECK(cudaFreeArray(layered));

    std::vector<float> faces(6 * W * W), sampled(6 * W * W, -1.0f);
    for (int f = 0; f < 6; f++)
        for (int y = 0; y < W; y++)
            for (int x = 0; x < W; x++)
                faces[(f * W + y) * W + x] = value(x, y) + 10000.0f * (float)f;
    cudaArray_t cube;
    CHECK(cudaMalloc3DArray(&cube, &f32, make_cudaExtent(W, W, 6), cudaArrayCubemap));
    copy.srcPtr = make_cudaPitchedPtr(faces.data(), W * sizeof(float), W, W);
    copy.dstArray = cube;
    copy.extent = make_cudaExtent(W, W, 6);
    CHECK(cudaMemcpy3D(&copy));
    cudaResourceDesc cres = {};
    cres.resType = cudaResourceTypeArray;
    cres.res.array.array = cube;
    cudaTextureObject_t ctex = texture(cres, cudaFilterModeLinear, cudaAddressModeWrap, true);
    tex_cube<<<dim3(1, 1), dim3(W, W)>>>(ctex, out, W);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(sampled.data(), out, 6 * W * W * sizeof(float), cudaMemcpyDeviceToHost));
    bool same = true;
    for (int i = 0; i < 6 * W * W && same; i++)
        if (std::fabs(sampled[i] - faces[i]) > 1e-2f) {
            fprintf(stderr, "face %d (%d, %d): %f, expected %f\n", i / (W * W), i % W, i / W % W, sampled[i], faces[i]);
            same = false;
        }
    expect(same, "a cubemap sampled along each face's directions gives that face's texels");
    CHECK(cudaDestroyTextureObject(ctex));
    CHECK(cudaFreeArray(cube));
    CHECK(cudaFree(out));
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

    cudaTextureObject_t unnormalized = texture(res, cudaFilterModePoint, cudaAddressModeWrap, false);
    expect(all([](int x, int y) { return value(x + W / 2 < W ? x + W / 2 : W - 1, y); }, sample(unnormalized, 0.5f + W / 2, 0.5f, 0)),
           "wrap without normalised coordinates clamps, as a GPU does");
    CHECK(cudaDestroyTextureObject(unnormalized));

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

    layered_and_cubemap(image);

    if (failures != 0)
        return 1;
    printf("PASS\n");
    return 0;
}
