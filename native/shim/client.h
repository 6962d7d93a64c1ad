/* The client's view of the pool: its daemons, contexts and allocations (client.c). */
#ifndef GPUPOOL_SHIM_CLIENT_H
#define GPUPOOL_SHIM_CLIENT_H

#include <stdint.h>

#include <cuda.h>

#include "conn.h"

#define GP_HANDLE_SHIFT 48
/*
 * A device's primary context has a fixed id on its daemon (docs/protocol.md): cudart asks for the
 * handle (export table cudart-interface[2]) before it retains the context, and expects the handle
 * cuDevicePrimaryCtxRetain returns later to be the same.
 */
#define GP_PRIMARY_CONTEXT_ID(remote_ordinal) ((UINT64_C(1) << 47) | (uint64_t)(remote_ordinal))
#define GP_HANDLE_ID_MASK ((UINT64_C(1) << GP_HANDLE_SHIFT) - 1)

int gp_server_count(void);
gp_conn *gp_server(int index);

/* A daemon's id for an object, tagged with the daemon so the client can route it back. */
void *gp_tag_handle(int server, uint64_t id);
/* -1 for NULL and the special stream values, which belong to no daemon. */
int gp_handle_server(const void *handle);
uint64_t gp_handle_id(const void *handle);

/* The global ordinal of a daemon's device, or -1. */
int gp_device_global(int server, int remote);

/*
 * What the job holds on one daemon, by the client's own records: contexts whose handles it was given,
 * allocations and their bytes. Said when that daemon is lost, since all of it is gone with the session.
 */
void gp_server_holdings(int server, size_t *contexts, size_t *allocations, uint64_t *bytes);

/* The calling thread's current context and the daemon holding it (-1: none). */
CUcontext gp_tls_context(void);
int gp_context_server(CUcontext ctx);
int gp_context_device(CUcontext ctx);

#endif
