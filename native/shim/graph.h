/* What the files of graphs built node by node share (graph.c, graph_params.c, graph_exec.c, graph_mem.c). */
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


/* ---- graphs, nodes, executable graphs: objects of this process (graph.c) ----------------------- */

enum { OBJ_GRAPH = 0x67726170, OBJ_NODE, OBJ_EXEC };

typedef struct graph graph;
typedef struct node node;

struct node {
    int kind; /* OBJ_NODE: first, as in every object (lookup) */
    graph *owner;
    CUgraphNodeType type;
    node **deps;
    size_t ndeps, cap_deps;
    size_t mark; /* topological sort: remaining dependencies */
    /* kernel */
    CUfunction fn;
    unsigned grid[3], block[3], shared;
    unsigned char *params;
    size_t params_len;
    /* memcpy, memset, host */
    CUDA_MEMCPY3D copy;
    CUDA_MEMSET_NODE_PARAMS memset;
    CUDA_HOST_NODE_PARAMS host;
    /* memory allocation and free */
    graph_mem *mem;
    CUDA_MEM_ALLOC_NODE_PARAMS alloc;
    CUdeviceptr freed;
    /* conditional: the handle (the daemon's value), its type, its bodies (graphs of this file) */
    CUgraphConditionalHandle cond;
    CUgraphConditionalNodeType cond_type;
    unsigned nbodies;
    graph **bodies;
};

struct graph {
    int kind; /* OBJ_GRAPH */
    node **nodes;
    size_t count, cap;
    /* A graph that lives on the daemon too (graph_daemon.c): its twin there, once it has one. */
    CUgraph twin;
    size_t sent; /* nodes, bodies' included, sent to the twin; 0: none yet */
    node *parent; /* a conditional's body: that node (the body is freed with it) */
};

/* The graph a body belongs to at the top (g itself when it is no body). */
static inline graph *gp_graph_root(graph *g)
{
    while (g->parent != NULL)
        g = g->parent->owner;
    return g;
}

/* graph_daemon.c: a conditional node's bodies made (graphs of this process); its handle checked. */
CUresult gp_graph_set_conditional(node *n, CUDA_CONDITIONAL_NODE_PARAMS *p);
/* Nodes and bodies in all, for telling a graph changed since it was sent. */
size_t gp_graph_node_total(const graph *g);

typedef struct {
    int kind;            /* OBJ_EXEC */
    graph *g;            /* a private copy, nodes in dependency order, registered nowhere */
    const void **origin; /* per node, the instantiated graph's node: compared, never read */
    int host_writes;     /* a host node or a copy into host memory: host-reading copies wait (above) */
} exec;

/* o, when it is a live object of that kind; NULL otherwise (o is never dereferenced before). */
void *gp_graph_object(const void *o, int kind);
int gp_graph_add_object(void *o);
void gp_graph_remove_object(void *o);
/* Frees a graph and its nodes; `registered`: they are handles the program was given. */
void gp_graph_free(graph *g, int registered);
/* A copy of the nodes and edges; registered when it is the program's (cuGraphClone), not an exec's. */
CUresult gp_graph_clone(const graph *from, graph **out, int registered);
/* A node's parameters set, checked as the driver checks them (a kernel's packed now). */
CUresult gp_graph_set_kernel(node *n, const CUDA_KERNEL_NODE_PARAMS_v2 *p);
CUresult gp_graph_set_memset(node *n, const CUDA_MEMSET_NODE_PARAMS *p);
CUresult gp_graph_set_copy(node *n, const CUDA_MEMCPY3D *p);
CUresult gp_graph_set_host(node *n, const CUDA_HOST_NODE_PARAMS *p);
/* The generic form (cuGraphNodeSetParams, cuGraphExecNodeSetParams): the node's own type only. */
CUresult gp_graph_set_params(node *n, const CUgraphNodeParams *p);

/* The first kernel parameters (CUDA 10): no kernel handle or context. */
static inline CUDA_KERNEL_NODE_PARAMS_v2 gp_graph_kernel_params_v2(const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    return (CUDA_KERNEL_NODE_PARAMS_v2){ p->func, p->gridDimX, p->gridDimY, p->gridDimZ, p->blockDimX, p->blockDimY, p->blockDimZ,
                                         p->sharedMemBytes, p->kernelParams, p->extra, NULL, NULL };
}

/* The generic node parameters (cuGraphAddNode, cuGraphNodeSetParams) in the forms the node calls take. */
static inline CUDA_KERNEL_NODE_PARAMS_v2 gp_graph_kernel_of(const CUgraphNodeParams *p)
{
    const CUDA_KERNEL_NODE_PARAMS_v3 *k = &p->kernel;
    return (CUDA_KERNEL_NODE_PARAMS_v2){ k->func, k->gridDimX, k->gridDimY, k->gridDimZ, k->blockDimX, k->blockDimY, k->blockDimZ,
                                         k->sharedMemBytes, k->kernelParams, k->extra, k->kern, k->ctx };
}

static inline CUDA_MEMSET_NODE_PARAMS gp_graph_memset_of(const CUgraphNodeParams *p)
{
    const CUDA_MEMSET_NODE_PARAMS_v2 *m = &p->memset;
    return (CUDA_MEMSET_NODE_PARAMS){ m->dst, m->pitch, m->value, m->elementSize, m->width, m->height };
}

static inline CUDA_HOST_NODE_PARAMS gp_graph_host_of(const CUgraphNodeParams *p) { return (CUDA_HOST_NODE_PARAMS){ p->host.fn, p->host.userData }; }

#endif
