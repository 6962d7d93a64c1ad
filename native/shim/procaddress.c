/*
 * cuGetProcAddress: the one symbol cudart looks up by name; every other entry point, cuInit included,
 * is fetched through it as (name, the API version the caller was written against, flags). The answer
 * is the variant of that function for that version, picked from the generated gp_proc_table.
 */
#include "shim.h"
#include "trace.h"

#include <string.h>

typedef struct table {
    const gp_proc_entry *entries;
    size_t size;
} table;

/* The first entry whose name is not below name (the table is sorted by name, then version). */
static size_t first_entry_at_or_after(table t, const char *name)
{
    size_t lo = 0, hi = t.size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t.entries[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct lookup {
    const gp_proc_entry *entry;     /* the chosen variant, or NULL */
    CUdriverProcAddressQueryResult status;
} lookup;

/*
 * Among the entries named name, the highest version not above version: per-thread-default-stream
 * variants (_ptsz/_ptds) only when asked for and, as the driver documents, the legacy variant when
 * there is no per-thread one. A name present only at higher versions is VERSION_NOT_SUFFICIENT.
 */
static lookup resolve(table t, const char *name, int version, int per_thread)
{
    const gp_proc_entry *best_legacy = NULL, *best_per_thread = NULL;
    int name_exists = 0;
    for (size_t i = first_entry_at_or_after(t, name);
         i < t.size && strcmp(t.entries[i].name, name) == 0; i++) {
        const gp_proc_entry *e = &t.entries[i];
        name_exists = 1;
        if (e->version > version)
            continue;
        const gp_proc_entry **best = e->per_thread ? &best_per_thread : &best_legacy;
        if (!*best || e->version > (*best)->version)
            *best = e;
    }
    lookup result = {best_legacy, CU_GET_PROC_ADDRESS_SUCCESS};
    if (per_thread && best_per_thread)
        result.entry = best_per_thread;
    if (!result.entry)
        result.status = name_exists ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                    : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return result;
}

/*
 * The argument checks and the lookup shared by both entry points; they differ only in how a miss is
 * reported. As the real driver (580, CUDA 13.0): a version newer than the driver's, or unknown flag
 * bits, is CUDA_ERROR_INVALID_VALUE with *pfn untouched; otherwise *pfn is the answer or NULL.
 */
static CUresult find(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                     lookup *found)
{
    const cuuint64_t known_flags =
        CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    if (!symbol || !pfn || cudaVersion > GP_DRIVER_VERSION || (flags & ~known_flags))
        return CUDA_ERROR_INVALID_VALUE;
    int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    *found = resolve((table){gp_proc_table, gp_proc_table_size}, symbol, cudaVersion, per_thread);
    /*
     * A call gpupool does not carry is handed out as its stub, which names it when the program uses
     * it: a driver without the call would make cudart answer "requires a newer driver", which sends
     * the user to upgrade a driver instead of telling them what gpupool lacks.
     */
    if (!found->entry) {
        lookup missing = resolve((table){gp_unsup_table, gp_unsup_table_size}, symbol, cudaVersion, per_thread);
        if (missing.entry)
            *found = missing;
    }
    *pfn = found->entry ? found->entry->fn : NULL;
    gp_debug("cuGetProcAddress(\"%s\", %d, %llu) -> %s", symbol, cudaVersion,
             (unsigned long long)flags, found->entry ? "found" : "not found");
    /* A miss is how a job meets a call gpupool lacks (cudart then reports cudaErrorCallRequiresNewerDriver). */
    gp_trace_note("%s cuGetProcAddress(\"%s\", %d, flags=%llu) -> %s", found->entry ? "ok  " : "MISS", symbol, cudaVersion,
                  (unsigned long long)flags,
                  found->entry ? "found"
                  : found->status == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT ? "VERSION_NOT_SUFFICIENT"
                                                                                 : "SYMBOL_NOT_FOUND");
    return CUDA_SUCCESS;
}

/*
 * cuda.h names this cuGetProcAddress (a macro for _v2); cudart looks it up as cuGetProcAddress_v2.
 * A miss is CUDA_SUCCESS with *pfn NULL and the reason in symbolStatus, as the real driver and
 * cuda.h's documentation have it; cudart treats the function as absent (36 if it is ever needed).
 */
GP_EXPORT CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                               cuuint64_t flags,
                                               CUdriverProcAddressQueryResult *symbolStatus)
{
    lookup found;
    CUresult r = find(symbol, pfn, cudaVersion, flags, &found);
    if (r == CUDA_SUCCESS && symbolStatus)
        *symbolStatus = found.status;
    return r;
}

/* The CUDA 11.3 entry point has no symbolStatus, so it reports a miss as CUDA_ERROR_NOT_FOUND. */
#undef cuGetProcAddress
GP_EXPORT CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                            cuuint64_t flags);
GP_EXPORT CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                            cuuint64_t flags)
{
    lookup found;
    CUresult r = find(symbol, pfn, cudaVersion, flags, &found);
    if (r == CUDA_SUCCESS && !found.entry)
        r = CUDA_ERROR_NOT_FOUND;
    return r;
}
