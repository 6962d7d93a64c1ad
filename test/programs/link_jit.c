/*
 * JIT linking through gpupool (issue 11), as NVIDIA's ptxjit sample does it: cuLinkCreate with a log,
 * the wall time and a verbose flag; the PTX of the emulator's test kernels (argv[1]) added as data,
 * then (a second link) as a file; cuLinkComplete's image loaded with cuModuleLoadData and one of its
 * kernels run and checked; a PTX input that does not compile refused by its link; cuLinkDestroy.
 * Prints "<what> ok" per check and PASS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"

static int failures;

static void expect(int ok, const char *what)
{
    if (ok)
        printf("%s ok\n", what);
    else {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

/* Runs vadd from the image over n elements; whether every sum is right. */
static int run_vadd(const void *image)
{
    enum { N = 1000 };
    CUmodule mod;
    CUfunction f;
    CHECK(cuModuleLoadData(&mod, image));
    CHECK(cuModuleGetFunction(&f, mod, "_Z4vaddPKfS0_Pfi"));
    float a[N], b[N], c[N];
    for (int i = 0; i < N; i++)
        a[i] = (float)i, b[i] = 0.5f * (float)i, c[i] = -1.0f;
    CUdeviceptr da, db, dc;
    CHECK(cuMemAlloc(&da, sizeof a));
    CHECK(cuMemAlloc(&db, sizeof b));
    CHECK(cuMemAlloc(&dc, sizeof c));
    CHECK(cuMemcpyHtoD(da, a, sizeof a));
    CHECK(cuMemcpyHtoD(db, b, sizeof b));
    int n = N;
    void *params[] = { &da, &db, &dc, &n };
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
    CHECK(cuMemcpyDtoH(c, dc, sizeof c));
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok = ok && c[i] == a[i] + b[i];
    CHECK(cuMemFree(da));
    CHECK(cuMemFree(db));
    CHECK(cuMemFree(dc));
    CHECK(cuModuleUnload(mod));
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: link_jit KERNELS.ptx\n");
        return 2;
    }
    open_device();
    size_t size;
    char *ptx = read_file(argv[1], &size);

    char info[4096], error[4096];
    float wall = -1.0f;
    CUjit_option options[] = { CU_JIT_WALL_TIME, CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                               CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_LOG_VERBOSE };
    void *values[] = { NULL, info, (void *)(uintptr_t)sizeof info, error, (void *)(uintptr_t)sizeof error, (void *)(uintptr_t)1 };
    memset(info, 'x', sizeof info);
    memset(error, 'x', sizeof error);
    CUlinkState link;
    CHECK(cuLinkCreate(sizeof options / sizeof options[0], options, values, &link));
    CHECK(cuLinkAddData(link, CU_JIT_INPUT_PTX, ptx, size + 1, "test_kernels.ptx", 0, NULL, NULL));
    void *image;
    size_t image_size = 0;
    CHECK(cuLinkComplete(link, &image, &image_size));
    memcpy(&wall, &values[0], sizeof wall);
    expect(image != NULL && image_size > 0, "cuLinkComplete hands out an image");
    expect(memchr(info, '\0', sizeof info) != NULL && memchr(error, '\0', sizeof error) != NULL, "the logs come back terminated");
    expect(wall >= 0.0f, "the wall time is written");
    expect(run_vadd(image), "a kernel of the linked image runs");
    CHECK(cuLinkDestroy(link));

    CHECK(cuLinkCreate(0, NULL, NULL, &link));
    CHECK(cuLinkAddFile(link, CU_JIT_INPUT_PTX, argv[1], 0, NULL, NULL));
    CHECK(cuLinkComplete(link, &image, &image_size));
    expect(run_vadd(image), "an image linked from a file");
    CHECK(cuLinkDestroy(link));

    /* Not PTX at all: refused, at the input or at the link. */
    static const char bad[] = "this is not PTX: no version, no target, no entry";
    CHECK(cuLinkCreate(0, NULL, NULL, &link));
    CUresult rc = cuLinkAddData(link, CU_JIT_INPUT_PTX, (void *)bad, sizeof bad, "bad.ptx", 0, NULL, NULL);
    if (rc == CUDA_SUCCESS)
        rc = cuLinkComplete(link, &image, &image_size);
    expect(rc == CUDA_ERROR_INVALID_PTX, "PTX that does not compile is refused");
    CHECK(cuLinkDestroy(link));
    expect(cuLinkDestroy(NULL) == CUDA_ERROR_INVALID_HANDLE, "a NULL link state is an invalid handle");

    free(ptx);
    if (failures)
        return 1;
    printf("PASS\n");
    return 0;
}
