// Texture and surface objects (src/protocol/cuda-api.ts): a resource description names an array of the
// session by its id (translated here into the driver's array) or device memory of the session (its
// extent checked against the session's allocations); the object the driver makes is recorded as the
// session's, and only the session's objects may be destroyed or described. Their values are the
// driver's own: a kernel takes them as parameters, which the daemon never rewrites.
#include <cudaTypedefs.h>

#include <cstring>

#include "../common/array_bytes.h"
#include "extent.h"
#include "gp_ops.h"
#include "handlers.h"

namespace gp {
namespace handlers {

namespace {

// The driver's description from the client's: arrays by the session's ids, memory inside its allocations.
CUresult res_to_driver(Session &s, uint32_t op, const CUDA_RESOURCE_DESC *in, CUDA_RESOURCE_DESC *out) {
  if (in == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(out, in, sizeof *out);
  void *ptr = nullptr;
  int block = 0;
  switch (out->resType) {
    case CU_RESOURCE_TYPE_ARRAY:
      if (!s.lookup((uint64_t)(uintptr_t)out->res.array.hArray, GP_HANDLE_CUarray, &ptr)) return CUDA_ERROR_INVALID_HANDLE;
      out->res.array.hArray = (CUarray)ptr;
      return CUDA_SUCCESS;
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
      if (!s.lookup((uint64_t)(uintptr_t)out->res.mipmap.hMipmappedArray, GP_HANDLE_CUmipmappedArray, &ptr)) return CUDA_ERROR_INVALID_HANDLE;
      out->res.mipmap.hMipmappedArray = (CUmipmappedArray)ptr;
      return CUDA_SUCCESS;
    case CU_RESOURCE_TYPE_LINEAR:
      return s.check_device(op, "pResDesc", out->res.linear.devPtr, Extent(out->res.linear.sizeInBytes), CUDA_ERROR_INVALID_VALUE);
    case CU_RESOURCE_TYPE_PITCH2D: {
      size_t elem = gp_array_element_bytes(out->res.pitch2D.format, out->res.pitch2D.numChannels, &block);
      if (elem == 0 || block) return CUDA_ERROR_INVALID_VALUE;
      Extent rows = Extent::rows(out->res.pitch2D.pitchInBytes, Extent(out->res.pitch2D.width) * Extent(elem), out->res.pitch2D.height);
      return s.check_device(op, "pResDesc", out->res.pitch2D.devPtr, rows, CUDA_ERROR_INVALID_VALUE);
    }
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

// The client's description from the driver's: an array named by its id.
void res_to_client(Session &s, CUDA_RESOURCE_DESC *desc) {
  if (desc->resType == CU_RESOURCE_TYPE_ARRAY)
    desc->res.array.hArray = (CUarray)(uintptr_t)s.remember(GP_HANDLE_CUarray, desc->res.array.hArray);
  else if (desc->resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY)
    desc->res.mipmap.hMipmappedArray = (CUmipmappedArray)(uintptr_t)s.remember(GP_HANDLE_CUmipmappedArray, desc->res.mipmap.hMipmappedArray);
}

bool all_zero(const void *p, size_t n) {
  const unsigned char *b = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return false;
  return true;
}

constexpr bool kTexture = false, kSurface = true;

// An object of the session's destroyed by the driver's call, and forgotten.
template <typename Destroy>
CUresult destroy_object(Session &s, bool surface, uint64_t obj, Destroy destroy) {
  if (!s.owns_texture(surface, obj)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = destroy(obj);
  if (rc == CUDA_SUCCESS) s.forget_texture(surface, obj);
  return rc;
}

// The resource of an object of the session's, its array named by the session's id.
template <typename Get>
CUresult resource_of(Session &s, bool surface, CUDA_RESOURCE_DESC *desc, uint64_t obj, Get get) {
  if (!s.owns_texture(surface, obj)) return CUDA_ERROR_INVALID_VALUE;
  CUDA_RESOURCE_DESC d;
  CUresult rc = get(desc != nullptr ? &d : nullptr, obj);
  if (rc == CUDA_SUCCESS && desc != nullptr) {
    res_to_client(s, &d);
    std::memcpy(desc, &d, sizeof d);
  }
  return rc;
}

}  // namespace

CUresult tex_object_create(Session &s, CUtexObject *out, const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                           const CUDA_RESOURCE_VIEW_DESC *view) {
  CUDA_RESOURCE_DESC desc;
  CUresult rc = res_to_driver(s, GP_OP_cuTexObjectCreate_v5000, res, &desc);
  if (rc != CUDA_SUCCESS) return rc;
  if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUDA_TEXTURE_DESC t;
  CUDA_RESOURCE_VIEW_DESC v;
  std::memcpy(&t, tex, sizeof t);
  std::memcpy(&v, view, sizeof v);
  rc = s.driver().fn<PFN_cuTexObjectCreate_v5000>(GP_OP_cuTexObjectCreate_v5000)(out, &desc, &t, all_zero(&v, sizeof v) ? nullptr : &v);
  if (rc == CUDA_SUCCESS) s.note_texture(kTexture, *out);
  return rc;
}

CUresult tex_object_destroy(Session &s, CUtexObject obj) {
  return destroy_object(s, kTexture, obj, s.driver().fn<PFN_cuTexObjectDestroy_v5000>(GP_OP_cuTexObjectDestroy_v5000));
}

CUresult tex_object_get_resource_desc(Session &s, CUDA_RESOURCE_DESC *desc, CUtexObject obj) {
  return resource_of(s, kTexture, desc, obj, s.driver().fn<PFN_cuTexObjectGetResourceDesc_v5000>(GP_OP_cuTexObjectGetResourceDesc_v5000));
}

CUresult tex_object_get_texture_desc(Session &s, CUDA_TEXTURE_DESC *desc, CUtexObject obj) {
  if (!s.owns_texture(kTexture, obj)) return CUDA_ERROR_INVALID_VALUE;
  CUDA_TEXTURE_DESC d;
  CUresult rc = s.driver().fn<PFN_cuTexObjectGetTextureDesc_v5000>(GP_OP_cuTexObjectGetTextureDesc_v5000)(desc != nullptr ? &d : nullptr, obj);
  if (rc == CUDA_SUCCESS && desc != nullptr) std::memcpy(desc, &d, sizeof d);
  return rc;
}

CUresult surf_object_create(Session &s, CUsurfObject *out, const CUDA_RESOURCE_DESC *res) {
  CUDA_RESOURCE_DESC desc;
  CUresult rc = res_to_driver(s, GP_OP_cuSurfObjectCreate_v5000, res, &desc);
  if (rc != CUDA_SUCCESS) return rc;
  if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  rc = s.driver().fn<PFN_cuSurfObjectCreate_v5000>(GP_OP_cuSurfObjectCreate_v5000)(out, &desc);
  if (rc == CUDA_SUCCESS) s.note_texture(kSurface, *out);
  return rc;
}

CUresult surf_object_destroy(Session &s, CUsurfObject obj) {
  return destroy_object(s, kSurface, obj, s.driver().fn<PFN_cuSurfObjectDestroy_v5000>(GP_OP_cuSurfObjectDestroy_v5000));
}

CUresult surf_object_get_resource_desc(Session &s, CUDA_RESOURCE_DESC *desc, CUsurfObject obj) {
  return resource_of(s, kSurface, desc, obj, s.driver().fn<PFN_cuSurfObjectGetResourceDesc_v5000>(GP_OP_cuSurfObjectGetResourceDesc_v5000));
}

}  // namespace handlers
}  // namespace gp
