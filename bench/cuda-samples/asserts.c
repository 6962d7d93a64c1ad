/*
 * CPU kernels of the cuda-samples whose kernels assert on the device. A device-side assert that fails
 * prints the message a GPU prints (through the context's printf FIFO) and fails the launch with
 * CUDA_ERROR_ASSERT, which leaves the context unusable (docs/emulator.md, "Device-side asserts").
 */
#include "kernels.h"

/*
 * testKernel(int N) (simpleAssert): assert(gtid < N) for gtid = blockIdx.x * blockDim.x + threadIdx.x.
 * simplePrintf's testKernel(int val) has the same name and parameters; this one is keyed by the
 * __assertfail its image calls ("name@function", docs/emulator.md).
 */
static int assert_below(const gpupool_emu_launch *l, void **params)
{
    int n = PARAM(int, params, 0);
    int failed = 0;
    for (unsigned b = 0; b < l->grid[0]; b++)
        for (unsigned t = 0; t < l->block[0]; t++) {
            long long gtid = (long long)b * l->block[0] + t;
            if (gtid < n)
                continue;
            l->printf(l, "simpleAssert.cu:64: void testKernel(int): block: [%u,0,0], thread: [%u,0,0] Assertion `gtid < N` failed.\n", b, t);
            failed = 1;
        }
    return failed ? CUDA_ERROR_ASSERT : CUDA_SUCCESS;
}

const gpupool_emu_kernel assert_kernels[] = {
    KERNEL("_Z10testKerneli@__assertfail", assert_below, 4),
    KERNEL("testKernel@__assertfail", assert_below, 4), /* simpleAssert_nvrtc's, extern "C" */
};
const unsigned assert_kernel_count = COUNT(assert_kernels);
