/*
 * The JIT options gpupool carries to the daemon's linker (cuLinkCreate, cuLinkAddData): those whose value
 * is a plain number. Pointer-valued ones (symbol tables, name lists) would name the job's memory, which
 * the daemon never follows; the log buffers and the wall time are answered by the client library from
 * what the daemon's linker wrote (native/shim/link.c). Header-only (C and C++).
 */
#ifndef GPUPOOL_JIT_OPTIONS_H
#define GPUPOOL_JIT_OPTIONS_H

#include <cuda.h>

static inline int gp_jit_option_is_value(int option)
{
    switch (option) {
    case CU_JIT_MAX_REGISTERS:
    case CU_JIT_THREADS_PER_BLOCK:
    case CU_JIT_OPTIMIZATION_LEVEL:
    case CU_JIT_TARGET_FROM_CUCONTEXT:
    case CU_JIT_TARGET:
    case CU_JIT_FALLBACK_STRATEGY:
    case CU_JIT_GENERATE_DEBUG_INFO:
    case CU_JIT_LOG_VERBOSE:
    case CU_JIT_GENERATE_LINE_INFO:
    case CU_JIT_CACHE_MODE:
    case CU_JIT_NEW_SM3X_OPT:
    case CU_JIT_FAST_COMPILE:
    case CU_JIT_FTZ:
    case CU_JIT_PREC_DIV:
    case CU_JIT_PREC_SQRT:
    case CU_JIT_FMA:
    case CU_JIT_OPTIMIZE_UNUSED_DEVICE_VARIABLES:
    case CU_JIT_POSITION_INDEPENDENT_CODE:
    case CU_JIT_MIN_CTA_PER_SM:
    case CU_JIT_MAX_THREADS_PER_BLOCK: return 1;
    default: return 0;
    }
}

/* At most this many bytes of each log travel back from the daemon. */
#define GP_JIT_LOG_MAX ((size_t)64 << 10)

#endif
