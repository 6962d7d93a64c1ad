/*
 * procaddress.c against a small fixture table: version choice, per-thread variants and their
 * fallback, the two kinds of miss, the empty name, and the edges of the binary search.
 */
#include "../shim.h"

#include <stdio.h>
#include <string.h>

#undef cuGetProcAddress
CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);

void gp_debug(const char *fmt, ...)
{
    (void)fmt;
}

void gp_trace_note(const char *fmt, ...)
{
    (void)fmt;
}

/* Distinct addresses to compare answers against; never called. */
static char a_2000, a_4000, a_ptds_7000, b_3020, c_9000;

const gp_proc_entry gp_proc_table[] = {
    {"cuA", 2000, 0, &a_2000},
    {"cuA", 4000, 0, &a_4000},
    {"cuA", 7000, 1, &a_ptds_7000},
    {"cuB", 3020, 0, &b_3020},
    {"cuC", 9000, 0, &c_9000},
};
const size_t gp_proc_table_size = sizeof gp_proc_table / sizeof gp_proc_table[0];
const gp_proc_entry gp_unsup_table[1];
const size_t gp_unsup_table_size = 0;

#define PTDS CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM

static int failures;

static void expect(const char *symbol, int version, cuuint64_t flags, CUresult want_r, void *want_fn,
                   CUdriverProcAddressQueryResult want_status)
{
    void *fn = (void *)&failures; /* must be overwritten, NULL included */
    CUdriverProcAddressQueryResult status = -1;
    CUresult r = cuGetProcAddress_v2(symbol, &fn, version, flags, &status);
    if (r != want_r || fn != want_fn || status != want_status) {
        printf("FAIL \"%s\" %d %llu: r=%d fn=%p status=%d, want r=%d fn=%p status=%d\n", symbol,
               version, (unsigned long long)flags, r, fn, status, want_r, want_fn, want_status);
        failures++;
    }
}

int main(void)
{
    const CUdriverProcAddressQueryResult OK = CU_GET_PROC_ADDRESS_SUCCESS;
    const CUdriverProcAddressQueryResult NO_SYMBOL = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    const CUdriverProcAddressQueryResult TOO_OLD = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;

    expect("cuA", 2000, 0, CUDA_SUCCESS, &a_2000, OK);
    expect("cuA", 3999, 0, CUDA_SUCCESS, &a_2000, OK);
    expect("cuA", 13000, 0, CUDA_SUCCESS, &a_4000, OK);        /* never per-thread unless asked */
    expect("cuA", 13000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, CUDA_SUCCESS, &a_4000, OK);
    expect("cuA", 13000, PTDS, CUDA_SUCCESS, &a_ptds_7000, OK);
    expect("cuA", 5000, PTDS, CUDA_SUCCESS, &a_4000, OK);      /* per-thread one is newer */
    expect("cuB", 7000, PTDS, CUDA_SUCCESS, &b_3020, OK);      /* has no per-thread variant */
    expect("cuC", 9000, 0, CUDA_SUCCESS, &c_9000, OK);         /* last entry */
    /* A miss is CUDA_SUCCESS with *pfn NULL and the reason in symbolStatus, as on the real driver. */
    expect("cuA", 1000, 0, CUDA_SUCCESS, NULL, TOO_OLD);
    expect("cuC", 8000, PTDS, CUDA_SUCCESS, NULL, TOO_OLD);
    expect("cuD", 13000, 0, CUDA_SUCCESS, NULL, NO_SYMBOL);  /* past the end */
    expect("cu", 13000, 0, CUDA_SUCCESS, NULL, NO_SYMBOL);   /* a prefix of every name */
    expect("cuAB", 13000, 0, CUDA_SUCCESS, NULL, NO_SYMBOL);
    expect("aaa", 13000, 0, CUDA_SUCCESS, NULL, NO_SYMBOL);  /* before the start */
    expect("", 0, 0, CUDA_SUCCESS, NULL, NO_SYMBOL);         /* cudart's first request */

    /* Invalid requests leave *pfn and symbolStatus alone. */
    void *fn = &fn;
    CUdriverProcAddressQueryResult status = 77;
    if (cuGetProcAddress_v2("cuA", &fn, 13010, 0, &status) != CUDA_ERROR_INVALID_VALUE ||
        cuGetProcAddress_v2("cuA", &fn, 2000, 4, &status) != CUDA_ERROR_INVALID_VALUE ||
        fn != &fn || status != 77) {
        printf("FAIL a version newer than the driver, or unknown flags\n");
        failures++;
    }
    if (cuGetProcAddress_v2(NULL, &fn, 13000, 0, NULL) != CUDA_ERROR_INVALID_VALUE ||
        cuGetProcAddress_v2("cuA", NULL, 13000, 0, NULL) != CUDA_ERROR_INVALID_VALUE) {
        printf("FAIL NULL arguments\n");
        failures++;
    }
    if (cuGetProcAddress_v2("cuB", &fn, 13000, 0, NULL) != CUDA_SUCCESS || fn != &b_3020 ||
        cuGetProcAddress("cuA", &fn, 13000, PTDS) != CUDA_SUCCESS || fn != &a_ptds_7000) {
        printf("FAIL without symbolStatus / through the 11.3 entry point\n");
        failures++;
    }
    /* The 11.3 entry point has no symbolStatus: its misses are CUDA_ERROR_NOT_FOUND. */
    if (cuGetProcAddress("cuZ", &fn, 13000, 0) != CUDA_ERROR_NOT_FOUND || fn != NULL) {
        printf("FAIL a miss through the 11.3 entry point\n");
        failures++;
    }

    printf("procaddress: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
