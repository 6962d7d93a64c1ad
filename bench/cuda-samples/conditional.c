/*
 * graphConditionalNodes' kernels: each takes the byte at dPtr and a conditional handle, sets the
 * handle from the byte (cudaGraphSetConditional, the emulator's set_conditional) and prints what the
 * sample's kernels print; the body kernels print only. ifGraphKernelA sets the byte's low bit;
 * doWhileLoopKernel decrements the byte and sets 0 when it reaches 0; capturedWhileKernel prints the
 * byte, decrements a non-zero one and sets the result; switchGraphKernelA sets the byte's value.
 * All run as one thread (the sample launches <<<1, 1>>>).
 */
#include "kernels.h"

static int set(const gpupool_emu_launch *l, void **params, unsigned value)
{
    return l->set_conditional(l, PARAM(unsigned long long, params, 1), value);
}

static char *byte_of(const gpupool_emu_launch *l, void **params) { return DEVICE(l, PARAM(CUdeviceptr, params, 0), 1, 1); }

static int if_a(const gpupool_emu_launch *l, void **params)
{
    char *d = byte_of(l, params);
    NEED(d);
    unsigned value = (unsigned)*d & 0x01;
    int rc = set(l, params, value);
    l->printf(l, "GPU: Handle set to %d\n", value);
    return rc;
}

static int if_c(const gpupool_emu_launch *l, void **params)
{
    (void)params;
    l->printf(l, "GPU: Hello from the GPU! The condition was true.\n");
    return CUDA_SUCCESS;
}

static int if_d(const gpupool_emu_launch *l, void **params)
{
    (void)params;
    l->printf(l, "GPU: Hello from the GPU! The condition was false.\n");
    return CUDA_SUCCESS;
}

static int do_while_empty(const gpupool_emu_launch *l, void **params)
{
    (void)params;
    l->printf(l, "GPU: doWhileEmptyKernel()\n");
    return CUDA_SUCCESS;
}

static int do_while_loop(const gpupool_emu_launch *l, void **params)
{
    char *d = byte_of(l, params);
    NEED(d);
    int rc = CUDA_SUCCESS;
    if (--(*d) == 0)
        rc = set(l, params, 0);
    l->printf(l, "GPU: counter = %d\n", *d);
    return rc;
}

static int captured_while(const gpupool_emu_launch *l, void **params)
{
    char *d = byte_of(l, params);
    NEED(d);
    l->printf(l, "GPU: counter = %d\n", *d);
    if (*d)
        (*d)--;
    return set(l, params, (unsigned)(int)*d);
}

static int captured_while_empty(const gpupool_emu_launch *l, void **params)
{
    (void)params;
    l->printf(l, "GPU: capturedWhileEmptyKernel()\n");
    return CUDA_SUCCESS;
}

static int switch_a(const gpupool_emu_launch *l, void **params)
{
    char *d = byte_of(l, params);
    NEED(d);
    unsigned value = (unsigned)(int)*d;
    int rc = set(l, params, value);
    l->printf(l, "GPU: Handle set to %d\n", value);
    return rc;
}

#define SAY(fn, letter)                                                                           \
    static int fn(const gpupool_emu_launch *l, void **params)                                      \
    {                                                                                              \
        (void)params;                                                                              \
        l->printf(l, "GPU: Hello from switchGraphKernel" letter "(), running on the GPU!\n");     \
        return CUDA_SUCCESS;                                                                       \
    }
SAY(switch_c, "C")
SAY(switch_d, "D")
SAY(switch_e, "E")
SAY(switch_f, "F")

const gpupool_emu_kernel conditional_kernels[] = {
    KERNEL("_Z14ifGraphKernelAPcy", if_a, 8, 8),
    KERNEL0("_Z14ifGraphKernelCv", if_c),
    KERNEL0("_Z14ifGraphKernelDv", if_d),
    KERNEL0("_Z18doWhileEmptyKernelv", do_while_empty),
    KERNEL("_Z17doWhileLoopKernelPcy", do_while_loop, 8, 8),
    KERNEL("_Z19capturedWhileKernelPcy", captured_while, 8, 8),
    KERNEL0("_Z24capturedWhileEmptyKernelv", captured_while_empty),
    KERNEL("_Z18switchGraphKernelAPcy", switch_a, 8, 8),
    KERNEL0("_Z18switchGraphKernelCv", switch_c),
    KERNEL0("_Z18switchGraphKernelDv", switch_d),
    KERNEL0("_Z18switchGraphKernelEv", switch_e),
    KERNEL0("_Z18switchGraphKernelFv", switch_f),
};
const unsigned conditional_kernel_count = COUNT(conditional_kernels);
