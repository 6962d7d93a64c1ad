/* The client's pinned and registered host blocks (hostmem.c), for the pointer queries (pointer.c). */
#ifndef GPUPOOL_SHIM_HOSTMEM_H
#define GPUPOOL_SHIM_HOSTMEM_H

#include <stddef.h>

/* Whether p lies in a block; its start, size and cuMemHostAlloc/cuMemHostRegister flags if so. */
int gp_host_block(const void *p, void **base, size_t *size, unsigned *flags);

#endif
