/*
 * Exits as told, for `gpupool run`'s status propagation: "exit N" exits N after a CUDA call;
 * "term" sends itself SIGTERM.
 * Usage: exit_status exit N | exit_status term
 */
#include <cuda.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s exit N | term\n", argv[0]);
        return 2;
    }
    CUresult rc = cuInit(0);
    const char *name = NULL;
    cuGetErrorName(rc, &name);
    printf("cuInit %s\n", name ? name : "?");
    fflush(stdout);
    if (strcmp(argv[1], "term") == 0) {
        raise(SIGTERM);
        return 99; /* not reached */
    }
    return argc > 2 ? atoi(argv[2]) : 0;
}
