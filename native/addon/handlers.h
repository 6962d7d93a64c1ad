// Hand-written halves of ops (src/protocol/cuda-api.ts):
//  - `handler` ops: the generated code decodes the arguments and calls these instead of the driver,
//    because the call touches the session's own state (private primary contexts, the record of
//    allocations, the handle table);
//  - `client` ops with a `wire` frame (docs/protocol.md, "Hand-encoded calls"): decoded by the
//    generated codec of src/protocol/frames.ts, run and answered here.
#ifndef GPUPOOL_ADDON_HANDLERS_H
#define GPUPOOL_ADDON_HANDLERS_H

#include <cstdint>

#include <cuda.h>

#include "gp_frames.h"
#include "session.h"
#include "wire.h"

namespace gp {
namespace handlers {

// ---- contexts: primary contexts are private to the session ----
CUresult primary_ctx_retain(Session &s, CUcontext *pctx, CUdevice dev);
CUresult primary_ctx_release(Session &s, CUdevice dev);
CUresult primary_ctx_reset(Session &s, CUdevice dev);
CUresult primary_ctx_set_flags(Session &s, CUdevice dev, unsigned flags);
CUresult ctx_create(Session &s, CUcontext *pctx, unsigned flags, CUdevice dev);
CUresult ctx_destroy(Session &s, CUcontext ctx);

// ---- memory: recorded per context, held to the session's quota per card ----
CUresult mem_alloc(Session &s, CUdeviceptr *dptr, size_t bytesize);
CUresult mem_alloc_pitch(Session &s, CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned element_size);
CUresult mem_free(Session &s, CUdeviceptr dptr);
CUresult mem_get_info(Session &s, size_t *free, size_t *total);

// ---- arrays, stream-ordered allocation, VMM (alloc_handlers.cc): each counted against the quota
// of its card before the driver is asked, given back when freed ----
CUresult array_create(Session &s, CUarray *handle, const CUDA_ARRAY_DESCRIPTOR *desc);
CUresult array_3d_create(Session &s, CUarray *handle, const CUDA_ARRAY3D_DESCRIPTOR *desc);
CUresult array_destroy(Session &s, CUarray array);
CUresult mipmapped_array_create(Session &s, CUmipmappedArray *handle, const CUDA_ARRAY3D_DESCRIPTOR *desc, unsigned levels);
CUresult mipmapped_array_get_level(Session &s, CUarray *level_array, CUmipmappedArray mipmap, unsigned level);
CUresult mipmapped_array_destroy(Session &s, CUmipmappedArray mipmap);
CUresult mem_alloc_async(Session &s, CUdeviceptr *dptr, size_t bytesize, CUstream stream);
CUresult mem_alloc_from_pool_async(Session &s, CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream);
CUresult mem_free_async(Session &s, CUdeviceptr dptr, CUstream stream);
CUresult mem_pool_create(Session &s, CUmemoryPool *pool, const CUmemPoolProps *props);
CUresult mem_pool_destroy(Session &s, CUmemoryPool pool);
CUresult mem_pool_set_attribute(Session &s, CUmemoryPool pool, CUmemPool_attribute attr, void *value);
CUresult mem_pool_get_attribute(Session &s, CUmemoryPool pool, CUmemPool_attribute attr, void *value);
CUresult device_get_default_mem_pool(Session &s, CUmemoryPool *pool, CUdevice dev);
CUresult device_get_mem_pool(Session &s, CUmemoryPool *pool, CUdevice dev);
CUresult device_set_mem_pool(Session &s, CUdevice dev, CUmemoryPool pool);
CUresult mem_address_reserve(Session &s, CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags);
CUresult mem_address_free(Session &s, CUdeviceptr ptr, size_t size);
CUresult mem_create(Session &s, CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                    unsigned long long flags);
CUresult mem_release(Session &s, CUmemGenericAllocationHandle handle);
CUresult mem_map(Session &s, CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                 unsigned long long flags);
CUresult mem_unmap(Session &s, CUdeviceptr ptr, size_t size);
CUresult mem_set_access(Session &s, CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count);
CUresult mem_get_allocation_granularity(Session &s, size_t *granularity, const CUmemAllocationProp *prop,
                                        CUmemAllocationGranularity_flags option);
CUresult mem_get_allocation_properties(Session &s, CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle);

// ---- destroy/unload, then forget the id ----
CUresult forget_handle(Session &s, CUstream stream);
CUresult forget_handle(Session &s, CUevent event);
CUresult forget_handle(Session &s, CUmodule module);
CUresult forget_handle(Session &s, CUlibrary library);
CUresult module_get_global(Session &s, CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name);
CUresult library_get_global(Session &s, CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name);
CUresult forget_handle(Session &s, CUgraph graph);
CUresult forget_handle(Session &s, CUgraphExec exec);
// A kernel's parameters from a packed buffer (each inside it), over the session's scratch copy: what a
// launch frame carries, and a kernel node of a graph_nodes frame.
CUresult kernel_arguments(Session &s, uint64_t fn_id, Bin params, CUfunction *fn, std::vector<void *> &kernel_params);
// ---- graphs of the job that live on the daemon (graph_handler.cc) ----
CUresult graph_conditional_handle_create(Session &s, CUgraphConditionalHandle *out, CUgraph graph, CUcontext ctx, unsigned value,
                                         unsigned flags);
void graph_nodes(Session &s, const gp_frame_graph_nodes &f, Reader &r, Writer &w, const Call &call, uint32_t op);

// ---- hand-encoded calls: the frame decoded by its generated codec (src/protocol/frames.ts); op: the
// frame's op number, which picks the variant ----
void module_image(Session &s, const gp_frame_image &f, Writer &w, const Call &call, uint32_t op);
void launch_kernel(Session &s, const gp_frame_launch &f, Writer &w, const Call &call, uint32_t op);
void launch_kernel_ex(Session &s, const gp_frame_launch_ex &f, Writer &w, const Call &call, uint32_t op);
void launch_cooperative_kernel(Session &s, const gp_frame_launch &f, Writer &w, const Call &call, uint32_t op);
void occupancy_max_active_clusters(Session &s, const gp_frame_clusters &f, Writer &w, const Call &call, uint32_t op);
void memcpy_unified(Session &s, const gp_frame_memcpy &f, Writer &w, const Call &call, uint32_t op);
void memcpy_unified_async(Session &s, const gp_frame_memcpy_async &f, Writer &w, const Call &call, uint32_t op);
void memcpy_2d(Session &s, const gp_frame_memcpy_2d &f, Writer &w, const Call &call, uint32_t op);
void memcpy_2d_async(Session &s, const gp_frame_memcpy_2d_async &f, Writer &w, const Call &call, uint32_t op);
// cuMemcpy3D, cuMemcpy3DAsync: host, device and array sides (copy3d_handlers.cc).
void memcpy_3d(Session &s, const gp_frame_memcpy_3d &f, Writer &w, const Call &call, uint32_t op);
void memcpy_3d_async(Session &s, const gp_frame_memcpy_3d_async &f, Writer &w, const Call &call, uint32_t op);
// The local transport's box copy whose host side lies in a shared region (shared_memory.cc answers
// it): the CUresult; *outside when the frame named bytes outside the session's regions.
CUresult memcpy_3d_shared(Session &s, const gp_frame_shm_copy_3d &f, bool *outside);
// ---- texture and surface objects (texture_handlers.cc): arrays by the session's ids, memory inside its
// allocations; only the session's own objects may be destroyed or described ----
CUresult tex_object_create(Session &s, CUtexObject *out, const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                           const CUDA_RESOURCE_VIEW_DESC *view);
CUresult tex_object_destroy(Session &s, CUtexObject obj);
CUresult tex_object_get_resource_desc(Session &s, CUDA_RESOURCE_DESC *desc, CUtexObject obj);
CUresult tex_object_get_texture_desc(Session &s, CUDA_TEXTURE_DESC *desc, CUtexObject obj);
CUresult surf_object_create(Session &s, CUsurfObject *out, const CUDA_RESOURCE_DESC *res);
CUresult surf_object_destroy(Session &s, CUsurfObject obj);
CUresult surf_object_get_resource_desc(Session &s, CUDA_RESOURCE_DESC *desc, CUsurfObject obj);
// cuLinkComplete: the client's inputs linked by the driver in one go (link_handler.cc); the frame's
// trailing options and inputs are read from r, which the handler finishes.
void link_complete(Session &s, const gp_frame_link &f, Reader &r, Writer &w, const Call &call, uint32_t op);

}  // namespace handlers
}  // namespace gp

#endif
