/*
 * A stream of asynchronous launches through the call ring (test/compute/call-ring.test.ts).
 * Usage: ring_launches KERNELS.fatbin burst N   launches N `spin` kernels, then synchronises;
 *        ring_launches KERNELS.fatbin held N    launches N, prints "launched", then waits for a line on
 *                                                stdin before it synchronises: meanwhile no call of the
 *                                                job's flushes the launches, so the test sees whether
 *                                                they reached the daemon on their own.
 * Prints PASS when every call succeeded.
 */
#include <string.h>

#include "cuda_check.h"

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[2], "burst") != 0 && strcmp(argv[2], "held") != 0)) {
        fprintf(stderr, "usage: %s KERNELS.fatbin burst|held N\n", argv[0]);
        return 2;
    }
    const long n = atol(argv[3]);
    open_device();
    CUmodule module;
    CUfunction spin;
    CHECK(cuModuleLoadData(&module, read_file(argv[1], NULL)));
    CHECK(cuModuleGetFunction(&spin, module, "_Z4spini"));
    int arg = 1;
    void *params[] = { &arg };
    for (long i = 0; i < n; i++)
        CHECK(cuLaunchKernel(spin, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
    if (strcmp(argv[2], "held") == 0) {
        printf("launched\n");
        fflush(stdout);
        char line[16];
        if (fgets(line, sizeof line, stdin) == NULL)
            return 3;
    }
    CHECK(cuCtxSynchronize());
    CHECK(cuModuleUnload(module));
    printf("PASS\n");
    return 0;
}
