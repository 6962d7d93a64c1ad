// CUDA arrays and box copies through gpupool (issue 11): cudaMallocArray, cudaMemcpy2DToArray and
// back, array to array, array to device memory, cudaMalloc3DArray with cudaMemcpy3D (whole and a
// sub-box at an offset, from pitched host and device memory, on a stream), the driver's linear array
// copies (cuMemcpyAtoD, DtoA, AtoA, found as cudart finds them), and copies past an array's end
// refused. Every result is checked on the host; no kernel runs.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda.h>
#include <cudaTypedefs.h>

#include "cudart_check.h"
#include "expect.h"

static const int W = 37, H = 19, D = 5;

static float value(int x, int y, int z) { return (float)(x + 100 * y + 10000 * z) + 0.5f; }

static void arrays_2d()
{
    std::vector<float> in(W * H), out(W * H, -1.0f), back(W * H, -1.0f);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            in[y * W + x] = value(x, y, 0);
    cudaChannelFormatDesc desc = cudaCreateChannelDesc<float>();
    cudaArray_t a, b;
    CHECK(cudaMallocArray(&a, &desc, W, H));
    CHECK(cudaMallocArray(&b, &desc, W, H));
    CHECK(cudaMemcpy2DToArray(a, 0, 0, in.data(), W * sizeof(float), W * sizeof(float), H, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy2DFromArray(out.data(), W * sizeof(float), a, 0, 0, W * sizeof(float), H, cudaMemcpyDeviceToHost));
    expect(out == in, "cudaMemcpy2DToArray and cudaMemcpy2DFromArray round trip");

    CHECK(cudaMemcpy2DArrayToArray(b, 0, 0, a, 0, 0, W * sizeof(float), H, cudaMemcpyDeviceToDevice));
    float *dev;
    size_t pitch;
    CHECK(cudaMallocPitch(&dev, &pitch, W * sizeof(float), H));
    CHECK(cudaMemcpy2DFromArray(dev, pitch, b, 0, 0, W * sizeof(float), H, cudaMemcpyDeviceToDevice));
    CHECK(cudaMemcpy2D(back.data(), W * sizeof(float), dev, pitch, W * sizeof(float), H, cudaMemcpyDeviceToHost));
    expect(back == in, "array to array, then array to pitched device memory");

    // A window: 5 columns from x = 3, 4 rows from y = 7, into a host buffer of its own.
    std::vector<float> window(5 * 4);
    CHECK(cudaMemcpy2DFromArray(window.data(), 5 * sizeof(float), a, 3 * sizeof(float), 7, 5 * sizeof(float), 4, cudaMemcpyDeviceToHost));
    bool ok = true;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++)
            ok = ok && window[y * 5 + x] == value(3 + x, 7 + y, 0);
    expect(ok, "a window of an array at an offset");

    cudaError_t past = cudaMemcpy2DToArray(a, 4 * sizeof(float), 0, in.data(), W * sizeof(float), W * sizeof(float), H, cudaMemcpyHostToDevice);
    expect(past == cudaErrorInvalidValue, "a copy past an array's last column is refused");
    cudaGetLastError();

    CHECK(cudaFree(dev));
    CHECK(cudaFreeArray(b));
    CHECK(cudaFreeArray(a));
}

static void arrays_3d()
{
    std::vector<float> in(W * H * D), out(W * H * D, -1.0f);
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                in[(z * H + y) * W + x] = value(x, y, z);
    cudaChannelFormatDesc desc = cudaCreateChannelDesc<float>();
    cudaExtent extent = make_cudaExtent(W, H, D);
    cudaArray_t a;
    CHECK(cudaMalloc3DArray(&a, &desc, extent));

    cudaMemcpy3DParms up = {};
    up.srcPtr = make_cudaPitchedPtr(in.data(), W * sizeof(float), W, H);
    up.dstArray = a;
    up.extent = extent;
    up.kind = cudaMemcpyHostToDevice;
    CHECK(cudaMemcpy3D(&up));

    // Array to pitched device memory, on a stream, then back to the host.
    cudaPitchedPtr dev;
    CHECK(cudaMalloc3D(&dev, make_cudaExtent(W * sizeof(float), H, D)));
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    cudaMemcpy3DParms across = {};
    across.srcArray = a;
    across.dstPtr = dev;
    across.extent = extent;
    across.kind = cudaMemcpyDeviceToDevice;
    CHECK(cudaMemcpy3DAsync(&across, stream));
    cudaMemcpy3DParms down = {};
    down.srcPtr = dev;
    down.dstPtr = make_cudaPitchedPtr(out.data(), W * sizeof(float), W, H);
    down.extent = make_cudaExtent(W * sizeof(float), H, D);
    down.kind = cudaMemcpyDeviceToHost;
    CHECK(cudaMemcpy3DAsync(&down, stream));
    CHECK(cudaStreamSynchronize(stream));
    expect(out == in, "cudaMemcpy3D host to 3D array, array to pitched device memory and back on a stream");

    // A sub-box: 4 x 3 x 2 elements from (2, 5, 1), into the same place of a zeroed host box.
    std::vector<float> box(W * H * D, 0.0f);
    cudaMemcpy3DParms sub = {};
    sub.srcArray = a;
    sub.srcPos = make_cudaPos(2, 5, 1);
    sub.dstPtr = make_cudaPitchedPtr(box.data(), W * sizeof(float), W, H);
    // With an array in the copy, cudart counts a pointer's x in the array's elements too.
    sub.dstPos = make_cudaPos(2, 5, 1);
    sub.extent = make_cudaExtent(4, 3, 2);
    sub.kind = cudaMemcpyDeviceToHost;
    CHECK(cudaMemcpy3D(&sub));
    bool ok = true;
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                bool inside = x >= 2 && x < 6 && y >= 5 && y < 8 && z >= 1 && z < 3;
                ok = ok && box[(z * H + y) * W + x] == (inside ? value(x, y, z) : 0.0f);
            }
    expect(ok, "a sub-box of a 3D array at an offset, and nothing around it");

    cudaMemcpy3DParms deep = sub;
    deep.srcPos = make_cudaPos(0, 0, D - 1);
    cudaError_t past = cudaMemcpy3D(&deep);
    expect(past == cudaErrorInvalidValue, "a box past an array's last plane is refused");
    cudaGetLastError();

    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(dev.ptr));
    CHECK(cudaFreeArray(a));
}

template <typename F>
static F entry(const char *name)
{
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult found;
    CHECK(cudaGetDriverEntryPointByVersion(name, &fn, 3020, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || fn == nullptr) {
        fprintf(stderr, "FAIL: no driver entry point %s\n", name);
        exit(1);
    }
    return reinterpret_cast<F>(fn);
}

static void linear_array_copies()
{
    auto atod = entry<PFN_cuMemcpyAtoD_v3020>("cuMemcpyAtoD");
    auto dtoa = entry<PFN_cuMemcpyDtoA_v3020>("cuMemcpyDtoA");
    auto atoa = entry<PFN_cuMemcpyAtoA_v3020>("cuMemcpyAtoA");
    const int n = 256;
    std::vector<unsigned> in(n), out(n, 0);
    for (int i = 0; i < n; i++)
        in[i] = 0x9e3779b9u * (unsigned)(i + 1);
    cudaChannelFormatDesc desc = cudaCreateChannelDesc<unsigned>();
    cudaArray_t a, b;
    CHECK(cudaMallocArray(&a, &desc, n));
    CHECK(cudaMallocArray(&b, &desc, n));
    unsigned *src, *dst;
    CHECK(cudaMalloc(&src, n * sizeof(unsigned)));
    CHECK(cudaMalloc(&dst, n * sizeof(unsigned)));
    CHECK(cudaMemcpy(src, in.data(), n * sizeof(unsigned), cudaMemcpyHostToDevice));
    CUresult rc = dtoa((CUarray)a, 0, (CUdeviceptr)src, n * sizeof(unsigned));
    if (rc == CUDA_SUCCESS)
        rc = atoa((CUarray)b, 0, (CUarray)a, 0, n * sizeof(unsigned));
    if (rc == CUDA_SUCCESS)
        rc = atod((CUdeviceptr)dst, (CUarray)b, 0, n * sizeof(unsigned));
    if (rc == CUDA_SUCCESS)
        CHECK(cudaMemcpy(out.data(), dst, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
    expect(rc == CUDA_SUCCESS && out == in, "cuMemcpyDtoA, cuMemcpyAtoA and cuMemcpyAtoD");
    expect(atod((CUdeviceptr)dst, (CUarray)b, 4, n * sizeof(unsigned)) == CUDA_ERROR_INVALID_VALUE,
           "cuMemcpyAtoD past the array's end is refused");
    CHECK(cudaFree(dst));
    CHECK(cudaFree(src));
    CHECK(cudaFreeArray(b));
    CHECK(cudaFreeArray(a));
}

int main()
{
    arrays_2d();
    arrays_3d();
    linear_array_copies();
    if (failures != 0)
        return 1;
    printf("PASS\n");
    return 0;
}
