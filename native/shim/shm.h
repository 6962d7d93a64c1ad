/*
 * Shared memory with a daemon on this host (issue 13; docs/protocol.md, "Shared memory"). Over the
 * daemon's Unix socket the client passes memfd regions (SCM_RIGHTS), and copies name (region, offset,
 * bytes) instead of carrying bytes: pinned memory (cuMemAllocHost, cuMemHostAlloc) is such a region,
 * so its copies move no byte here; pageable memory goes through a staging region, in slots, the client
 * filling one while the daemon copies another. Anywhere else (TCP, TLS, a daemon that refuses, the
 * variable GPUPOOL_SHARED_MEMORY=0) every call answers "not mine" and the socket path runs as before.
 */
#ifndef GPUPOOL_SHIM_SHM_H
#define GPUPOOL_SHIM_SHM_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

/* Pinned memory in a region registered with every local daemon: 1 (*pp set), or 0 when there is none. */
int gp_shm_host_alloc(void **pp, size_t bytes);
/* 1 when p was such memory (now freed), else 0. */
int gp_shm_host_free(void *p);

/*
 * A copy of the op `op` (cuMemcpyHtoD*, cuMemcpyDtoH*, sync or async) through shared memory: 1 with
 * the copy's result in *rc, or 0 when its daemon is not local (the caller sends the bytes).
 */
int gp_shm_htod(uint32_t op, CUdeviceptr dst, const void *src, size_t n, int async, CUstream stream, CUresult *rc);
int gp_shm_dtoh(uint32_t op, void *dst, CUdeviceptr src, size_t n, int async, CUstream stream, CUresult *rc);

#endif
