/*
 * The profiler's start/stop markers. A profiler attached to the job (nsys, ncu) sees no card here: the
 * job's work runs inside the daemon's process on another host, so there is nothing to start or stop on
 * this side, and the daemon's card must not be profiled at one client's word. The markers are answered
 * as a driver with no profiler attached answers them: successfully, doing nothing.
 */
#include "gp_shim_decls.h"
#include "shim.h"

CUresult gp_local_cuProfilerStart_v4000(void) { return gp_initialized() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }

CUresult gp_local_cuProfilerStop_v4000(void) { return gp_initialized() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }
