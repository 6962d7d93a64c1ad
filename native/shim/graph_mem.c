/*
 * The memory of graphs' allocation nodes (cuGraphAddMemAllocNode, graphMemoryFootprint), for graphs
 * built node by node (graph.c). The driver gives an allocation node its address when the node is
 * added and its memory when a launch reaches it; here the memory is allocated with the address, as an
 * ordinary allocation of the session (bounds-checked and counted against its quota like any other),
 * and kept while any node names it. A launch hands the memory to the program unless a free node of
 * the graphs frees it: then the program may cudaFree it, and it outlives the graph. Freed when the
 * last node naming it goes (the graph, its clones and executable graphs destroyed), or by the program.
 * The memory attributes count what these records hold; trimming has no pool to return memory from.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "call.h"
#include "graph.h"
#include "gp_shim_decls.h"
#include "shim.h"

struct graph_mem {
    graph_mem *next;
    CUdeviceptr ptr;
    size_t bytes;
    int refs;         /* nodes naming it */
    int launched;     /* a launch reached its allocation node */
    int freed_by_node;
    int freed_by_program; /* cudaFree'd while nodes still name it: no longer counted, never freed again */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static graph_mem *g_head;
static size_t g_used, g_high;

/* Unlinks m (under the lock). */
static void unlink_mem(graph_mem *m)
{
    for (graph_mem **p = &g_head; *p != NULL; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            if (!m->freed_by_program)
                g_used -= m->bytes;
            return;
        }
}

CUresult gp_graph_mem_alloc(size_t bytes, graph_mem **out, CUdeviceptr *ptr)
{
    graph_mem *m = calloc(1, sizeof *m);
    if (m == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult rc = gp_fwd_cuMemAlloc_v3020(&m->ptr, bytes);
    if (rc != CUDA_SUCCESS) {
        free(m);
        return rc;
    }
    m->bytes = bytes;
    m->refs = 1;
    pthread_mutex_lock(&g_lock);
    m->next = g_head;
    g_head = m;
    g_used += bytes;
    if (g_used > g_high)
        g_high = g_used;
    pthread_mutex_unlock(&g_lock);
    *out = m;
    *ptr = m->ptr;
    return CUDA_SUCCESS;
}

void gp_graph_mem_retain(graph_mem *m)
{
    pthread_mutex_lock(&g_lock);
    m->refs++;
    pthread_mutex_unlock(&g_lock);
}

void gp_graph_mem_launched(graph_mem *m)
{
    pthread_mutex_lock(&g_lock);
    m->launched = 1;
    pthread_mutex_unlock(&g_lock);
}

void gp_graph_mem_release(graph_mem *m)
{
    pthread_mutex_lock(&g_lock);
    int last = --m->refs == 0;
    /* Launched and freed by no node: the program's now, freed by its cudaFree (gp_graph_note_free). */
    int owned = last && !m->freed_by_program && (!m->launched || m->freed_by_node);
    if (owned || (last && m->freed_by_program))
        unlink_mem(m);
    pthread_mutex_unlock(&g_lock);
    if (owned)
        (void)gp_fwd_cuMemFree_v3020(m->ptr);
    if (last && (owned || m->freed_by_program))
        free(m);
}

CUresult gp_graph_mem_freed_by_node(CUdeviceptr ptr)
{
    CUresult rc = CUDA_ERROR_INVALID_VALUE; /* a free node names the address of an allocation node */
    pthread_mutex_lock(&g_lock);
    for (graph_mem *m = g_head; m != NULL; m = m->next)
        if (m->ptr == ptr) {
            m->freed_by_node = 1;
            rc = CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void gp_graph_note_free(CUdeviceptr ptr)
{
    pthread_mutex_lock(&g_lock);
    graph_mem *gone = NULL;
    for (graph_mem *m = g_head; m != NULL && gone == NULL; m = m->next) {
        if (m->ptr != ptr || m->freed_by_program)
            continue;
        if (m->refs == 0) {
            gone = m;
        } else {
            m->freed_by_program = 1;
            g_used -= m->bytes;
        }
    }
    if (gone != NULL)
        unlink_mem(gone);
    pthread_mutex_unlock(&g_lock);
    free(gone);
}

static CUresult known_device(CUdevice device)
{
    int count = 0;
    CUresult rc = gp_local_cuDeviceGetCount_v2000(&count);
    return rc != CUDA_SUCCESS ? rc : device < 0 || device >= count ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

/* The job's graphs' memory, on whichever device (the records do not say): used and reserved alike. */
CUresult gp_local_cuDeviceGetGraphMemAttribute_v11040(CUdevice device, CUgraphMem_attribute attr, void *value)
{
    CUresult rc = known_device(device);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (value == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    switch (attr) {
    case CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT:
    case CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT:
        *(cuuint64_t *)value = g_used;
        break;
    case CU_GRAPH_MEM_ATTR_USED_MEM_HIGH:
    case CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH:
        *(cuuint64_t *)value = g_high;
        break;
    default:
        rc = CUDA_ERROR_INVALID_VALUE;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* Only the high watermarks may be set, and only to 0 (a reset), as the driver allows. */
CUresult gp_local_cuDeviceSetGraphMemAttribute_v11040(CUdevice device, CUgraphMem_attribute attr, void *value)
{
    CUresult rc = known_device(device);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (value == NULL || *(const cuuint64_t *)value != 0 ||
        (attr != CU_GRAPH_MEM_ATTR_USED_MEM_HIGH && attr != CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    g_high = g_used;
    pthread_mutex_unlock(&g_lock);
    return CUDA_SUCCESS;
}

/* No pool holds memory back: each record is live memory of a node or of the program. */
CUresult gp_local_cuDeviceGraphMemTrim_v11040(CUdevice device) { return known_device(device); }
