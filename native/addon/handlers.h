// Hand-written halves of ops (src/protocol/cuda-api.ts):
//  - `handler` ops: the generated code decodes the arguments and calls these instead of the driver,
//    because the call touches the session's own state (private primary contexts, the record of
//    allocations, the handle table);
//  - `client` ops: hand-encoded frames (docs/protocol.md, "Hand-encoded calls"), decoded and
//    answered here whole.
#ifndef GPUPOOL_ADDON_HANDLERS_H
#define GPUPOOL_ADDON_HANDLERS_H

#include <cstdint>

#include <cuda.h>

#include "session.h"
#include "wire.h"

namespace gp {
namespace handlers {

// ---- contexts: primary contexts are private to the session ----
CUresult primary_ctx_retain(Session &s, CUcontext *pctx, CUdevice dev);
CUresult primary_ctx_release(Session &s, CUdevice dev);
CUresult primary_ctx_reset(Session &s, CUdevice dev);
CUresult primary_ctx_get_state(Session &s, CUdevice dev, unsigned *flags, int *active);
CUresult primary_ctx_set_flags(Session &s, CUdevice dev, unsigned flags);
CUresult ctx_create(Session &s, CUcontext *pctx, unsigned flags, CUdevice dev);
CUresult ctx_destroy(Session &s, CUcontext ctx);

// ---- memory: recorded per context, held to the session's quota per card ----
CUresult mem_alloc(Session &s, CUdeviceptr *dptr, size_t bytesize);
CUresult mem_alloc_pitch(Session &s, CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned element_size);
CUresult mem_free(Session &s, CUdeviceptr dptr);
CUresult mem_get_info(Session &s, size_t *free, size_t *total);

// ---- destroy/unload, then forget the id ----
CUresult forget_handle(Session &s, CUstream stream);
CUresult forget_handle(Session &s, CUevent event);
CUresult forget_handle(Session &s, CUmodule module);
CUresult forget_handle(Session &s, CUlibrary library);

// ---- hand-encoded calls (op: the frame's op number, which picks the variant) ----
void module_image(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);
void launch_kernel(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);
void launch_kernel_ex(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);
void memcpy_unified(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);
void memcpy_unified_async(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);
void memcpy_2d(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);
void memcpy_2d_async(Session &s, Reader &r, Writer &w, const Call &call, uint32_t op);

}  // namespace handlers
}  // namespace gp

#endif
