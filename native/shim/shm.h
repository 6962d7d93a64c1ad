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

/*
 * For copies that build their own frames (copy3d.c's box copies): whether `server` is a local daemon
 * that takes shared memory, and the region (and offset) of that server's holding all of [p, p+n).
 */
int gp_shm_local(int server);
int gp_shm_pinned(int server, const void *p, size_t n, uint32_t *region, uint64_t *offset);

/*
 * A server's staging slots, held by the calling thread from begin to end (NULL: the daemon takes no
 * shared memory). gp_shm_stage_slot waits until the daemon is done with slot k % slots and returns
 * its bytes, with what the next frame naming it carries (region, offset, signal word and value);
 * gp_shm_stage_synced says a synchronous frame was answered, which frees every slot.
 */
typedef struct gp_shm_stage gp_shm_stage;
#define GP_SHM_STAGE_SLOT ((size_t)16 << 20)
gp_shm_stage *gp_shm_stage_begin(int server);
unsigned char *gp_shm_stage_slot(gp_shm_stage *st, size_t k, uint32_t *region, uint64_t *offset, uint64_t *signal, uint32_t *value,
                                 CUresult *rc);
void gp_shm_stage_synced(gp_shm_stage *st);
void gp_shm_stage_end(gp_shm_stage *st);

#endif
