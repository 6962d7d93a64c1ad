// Kernels for running bench/programs/train_loop.c on a real GPU (docs/gpu-validation.md): the same
// entry points as native/fakes/cuda/kernels/test_kernels.cu (`scale`, `saxpy`, `spin`, same mangled
// names), but `spin` takes a duration: it busy-waits until the GPU's nanosecond timer (%globaltimer)
// has advanced by `ns`, so a launch of spin(50000) holds the device for about 50 us whatever the
// clock speed. (test_kernels.cu's `spin` loops `n` times and is near-empty for the n the benchmarks
// pass; the emulator gives kernels their duration from its time model instead.)
// Build: nvcc -arch=sm_90 -fatbin -o gpu_kernels.fatbin bench/programs/gpu_kernels.cu
__global__ void saxpy(float a, const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

__global__ void scale(float *p, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= s;
}

__device__ __forceinline__ unsigned long long globaltimer()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

__global__ void spin(int ns)
{
    unsigned long long t0 = globaltimer();
    while (globaltimer() - t0 < (unsigned long long)ns) {
    }
}
