// Test kernels for the emulated CUDA driver (docs/emulator.md). Built by nvcc into test programs;
// test_kernels.c implements the same kernels, under the same mangled names, for the CPU.
#include <cstddef>

#include <cooperative_groups.h>

__global__ void vadd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

__global__ void saxpy(float a, const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

__global__ void fill_u32(unsigned *p, unsigned v, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v;
}

__global__ void scale(float *p, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= s;
}

// Writes through a raw address: a bad one is how tests provoke CUDA_ERROR_ILLEGAL_ADDRESS.
__global__ void poke(unsigned long long addr)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        *(volatile unsigned *)addr = 0xdeadbeefu;
}

// Burns time on a GPU; on the emulator its duration is the time model's.
__global__ void spin(int n)
{
    volatile int sink = 0;
    for (int i = 0; i < n; i++)
        sink = sink + i;
}

// Takes `ns` nanoseconds of device time (the sharing tests' unit of work): on a GPU it waits on the
// global timer; on the emulator its modelled duration is `ns`.
__global__ void spin_ns(unsigned long long ns)
{
    if (threadIdx.x != 0)
        return;
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < ns);
}

// Module variables: a __constant__ table the host fills (cudaMemcpyToSymbol, cuModuleGetGlobal) and a
// __device__ counter the kernel adds to, read back by the host.
__constant__ float poly_coeffs[4];
__device__ unsigned poly_calls;

__global__ void poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = poly_coeffs[0] + x[i] * (poly_coeffs[1] + x[i] * (poly_coeffs[2] + x[i] * poly_coeffs[3]));
    if (i == 0)
        atomicAdd(&poly_calls, 1u);
}

// Device printf: one line per thread, tagged with the round, which the host's synchronisation flushes.
__global__ void greet(int round)
{
    printf("round %d: block %d thread %d\n", round, (int)blockIdx.x, (int)threadIdx.x);
}

// Texture and surface objects: one thread per element samples a 2D texture at (x + dx, y + dy),
// divided by the size when `norm` (normalised coordinates); surf_fill writes x + 1000 y through a
// surface.
__global__ void tex_sample(cudaTextureObject_t tex, float *out, int w, int h, float dx, float dy, int norm)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < w && y < h) {
        float u = x + dx, v = y + dy;
        if (norm) {
            u /= w;
            v /= h;
        }
        out[y * w + x] = tex2D<float>(tex, u, v);
    }
}

__global__ void surf_fill(cudaSurfaceObject_t surf, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < w && y < h)
        surf2Dwrite((float)x + 1000.0f * (float)y, surf, x * (int)sizeof(float), y);
}

// Mipmapped textures: thread i samples the middle of the texture at level of detail lods[i].
__global__ void tex_lod(cudaTextureObject_t tex, float *out, const float *lods, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = tex2DLod<float>(tex, 0.5f, 0.5f, lods[i]);
}

// A 32-bit integer texture read as integers (bindlessTexture keeps texture handles in one).
__global__ void tex_uint2(cudaTextureObject_t tex, unsigned *out)
{
    uint2 t = tex2D<uint2>(tex, 0.5f, 0.5f);
    out[0] = t.x;
    out[1] = t.y;
}

// A cooperative grid (cudaLaunchCooperativeKernel): each block adds its elements into out[1 + block],
// then, after grid.sync(), the grid's thread 0 adds the blocks' sums into out[0].
__global__ void grid_sum(const int *in, int *out, int n)
{
    cooperative_groups::grid_group grid = cooperative_groups::this_grid();
    if (threadIdx.x == 0) {
        int sum = 0;
        for (int i = blockIdx.x; i < n; i += gridDim.x)
            sum += in[i];
        out[1 + blockIdx.x] = sum;
    }
    grid.sync();
    if (grid.thread_rank() == 0) {
        int total = 0;
        for (unsigned b = 0; b < gridDim.x; b++)
            total += out[1 + b];
        out[0] = total;
    }
}

// Layered and cubemap textures: tex_layers samples each layer of a layered 2D texture at the texel
// centres, out[layer][y][x]; tex_cube samples a cubemap along (three times) the direction through
// each face's texel centre, as the programming guide's cubemap table maps faces, out[face][y][x].
__global__ void tex_layers(cudaTextureObject_t tex, float *out, int w, int h, int layers)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < w && y < h)
        for (int layer = 0; layer < layers; layer++)
            out[(layer * h + y) * w + x] = tex2DLayered<float>(tex, x + 0.5f, y + 0.5f, layer);
}

__global__ void tex_cube(cudaTextureObject_t tex, float *out, int w)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < w && y < w) {
        float s = 3.0f * ((x + 0.5f) / w * 2.0f - 1.0f), t = 3.0f * ((y + 0.5f) / w * 2.0f - 1.0f);
        const float dir[6][3] = { { 3, -t, -s }, { -3, -t, s }, { s, 3, t }, { s, -3, -t }, { s, -t, 3 }, { -s, -t, -3 } };
        for (int face = 0; face < 6; face++)
            out[(face * w + y) * w + x] = texCubemap<float>(tex, dir[face][0], dir[face][1], dir[face][2]);
    }
}
