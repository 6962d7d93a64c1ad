/* What graph.c and graph_mem.c share: the memory of a graph's allocation nodes. */
#ifndef GPUPOOL_SHIM_GRAPH_H
#define GPUPOOL_SHIM_GRAPH_H

#include <stddef.h>

#include <cuda.h>

typedef struct graph_mem graph_mem;

/* The memory of a new allocation node, allocated now (its address is the node's from the start). */
CUresult gp_graph_mem_alloc(size_t bytes, graph_mem **out, CUdeviceptr *ptr);
/* Another node (a clone's, an executable graph's) that names the same allocation. */
void gp_graph_mem_retain(graph_mem *m);
/* A node naming it is gone; the last one frees it unless a launch handed it to the program. */
void gp_graph_mem_release(graph_mem *m);
/* A launch reached the allocation node. */
void gp_graph_mem_launched(graph_mem *m);
/* A free node names ptr: the memory is the graphs' to free, never the program's. */
CUresult gp_graph_mem_freed_by_node(CUdeviceptr ptr);

#endif
