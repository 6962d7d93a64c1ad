// Arrays, stream-ordered allocation and memory pools, and virtual memory management (handlers.h).
//
// Every call that takes device memory is counted against the session's quota on the memory's card
// before the driver is asked: over it, CUDA_ERROR_OUT_OF_MEMORY and nothing changes. What the driver
// is given comes from the daemon's own copies of the client's structs, with every pointer in them NULL
// and every device ordinal turned into the driver's CUdevice: nothing the client sends is followed.
// A session names only its own arrays, pools, physical memory and address ranges (docs/protocol.md).
#include <cstring>
#include <vector>

#include "../common/array_bytes.h"
#include "handlers.h"

namespace gp {
namespace handlers {

namespace {

// Access descriptors one cuMemSetAccess may carry (the client library refuses more).
constexpr size_t kMaxAccessDescs = 64;
// Pools one session may create besides its private default ones.
constexpr size_t kMaxPools = 256;

template <typename T>
T copy_of(const T *p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the frame's bytes need not be aligned
  return v;
}

// A device location's ordinal to the driver's CUdevice: a card the session was given, as for a CUdevice
// argument. Other location types are not carried.
CUresult location_to_driver(const Session &s, CUmemLocation *loc, int *ordinal) {
  if (loc->type != CU_MEM_LOCATION_TYPE_DEVICE) return loc->type == CU_MEM_LOCATION_TYPE_INVALID ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_SUPPORTED;
  CUdevice dev = 0;
  if (!s.has_card(loc->id) || !s.driver().device(loc->id, &dev)) return CUDA_ERROR_INVALID_DEVICE;
  *ordinal = loc->id;
  loc->id = (int)dev;
  return CUDA_SUCCESS;
}

// The daemon's copy of an allocation's properties: device memory only, no exportable handle (the
// export calls are not carried), no Windows metadata pointer.
CUresult prop_to_driver(const Session &s, const CUmemAllocationProp *in, CUmemAllocationProp *out, int *ordinal) {
  if (in == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *out = copy_of(in);
  out->win32HandleMetaData = nullptr;
  out->requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
  return location_to_driver(s, &out->location, ordinal);
}

}  // namespace

// ---- arrays ------------------------------------------------------------------------------------------

namespace {

template <typename Create>
CUresult counted_create(Session &s, int kind, void **handle, int sized, size_t bytes, Create create) {
  // A descriptor gpupool cannot size cannot be counted: refused rather than let through uncounted.
  if (sized != 0) return CUDA_ERROR_INVALID_VALUE;
  if (!s.fits_quota(bytes)) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult rc = create();
  if (rc == CUDA_SUCCESS) s.note_held(kind, *handle, bytes);
  return rc;
}

}  // namespace

CUresult array_create(Session &s, CUarray *handle, const CUDA_ARRAY_DESCRIPTOR *desc) {
  if (handle == nullptr || desc == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY_DESCRIPTOR d = copy_of(desc);
  size_t bytes = 0;
  int sized = gp_array_bytes(d.Width, d.Height, 0, d.Format, d.NumChannels, &bytes);
  return counted_create(s, GP_HANDLE_CUarray, (void **)handle, sized, bytes, [&] { return s.driver().api().arrayCreate(handle, &d); });
}

CUresult array_3d_create(Session &s, CUarray *handle, const CUDA_ARRAY3D_DESCRIPTOR *desc) {
  if (handle == nullptr || desc == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR d = copy_of(desc);
  size_t bytes = 0;
  int sized = gp_array_bytes(d.Width, d.Height, d.Depth, d.Format, d.NumChannels, &bytes);
  return counted_create(s, GP_HANDLE_CUarray, (void **)handle, sized, bytes, [&] { return s.driver().api().array3DCreate(handle, &d); });
}

// A mipmapped array's level is not the client's to destroy: the driver is not asked to.
CUresult array_destroy(Session &s, CUarray array) {
  if (!s.holds(GP_HANDLE_CUarray, array)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().arrayDestroy(array);
  if (rc == CUDA_SUCCESS) s.forget_held(GP_HANDLE_CUarray, array);
  return rc;
}

CUresult mipmapped_array_create(Session &s, CUmipmappedArray *handle, const CUDA_ARRAY3D_DESCRIPTOR *desc, unsigned levels) {
  if (handle == nullptr || desc == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR d = copy_of(desc);
  size_t bytes = 0;
  int layered = (d.Flags & CUDA_ARRAY3D_LAYERED) != 0;
  int sized = gp_mipmap_bytes(d.Width, d.Height, d.Depth, layered, d.Format, d.NumChannels, levels, &bytes);
  return counted_create(s, GP_HANDLE_CUmipmappedArray, (void **)handle, sized, bytes,
                        [&] { return s.driver().api().mipmappedArrayCreate(handle, &d, levels); });
}

// Its levels' ids are forgotten with it: a level is no array of its own.
CUresult mipmapped_array_get_level(Session &s, CUarray *level_array, CUmipmappedArray mipmap, unsigned level) {
  if (level_array == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().mipmappedArrayGetLevel(level_array, mipmap, level);
  if (rc == CUDA_SUCCESS) s.note_level(mipmap, *level_array);
  return rc;
}

CUresult mipmapped_array_destroy(Session &s, CUmipmappedArray mipmap) {
  CUresult rc = s.driver().api().mipmappedArrayDestroy(mipmap);
  if (rc != CUDA_SUCCESS) return rc;
  s.forget_levels(mipmap);
  s.forget_held(GP_HANDLE_CUmipmappedArray, mipmap);
  return rc;
}

// ---- stream-ordered allocation -----------------------------------------------------------------------

namespace {

// From `pool` (nullptr: the session's current pool of the stream's card), counted on the pool's card.
CUresult alloc_from(Session &s, CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream) {
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUcontext owner = nullptr;
  int stream_card = -1;
  if (!s.stream_card(stream, &owner, &stream_card)) return CUDA_ERROR_INVALID_CONTEXT;
  int card = pool != nullptr ? s.pool_ordinal(pool) : stream_card;
  if (card < 0) return CUDA_ERROR_INVALID_VALUE;
  if (!s.fits_quota_on(card, bytesize)) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult rc = pool != nullptr ? CUDA_SUCCESS : s.current_pool(card, &pool);
  if (rc == CUDA_SUCCESS) rc = s.driver().api().memAllocFromPoolAsync(dptr, bytesize, pool, s.plain_stream(stream));
  if (rc == CUDA_SUCCESS) s.note_async_alloc(*dptr, bytesize, owner, card);
  return rc;
}

}  // namespace

CUresult mem_alloc_async(Session &s, CUdeviceptr *dptr, size_t bytesize, CUstream stream) {
  return alloc_from(s, dptr, bytesize, nullptr, stream);
}

CUresult mem_alloc_from_pool_async(Session &s, CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream stream) {
  return pool == nullptr ? CUDA_ERROR_INVALID_VALUE : alloc_from(s, dptr, bytesize, pool, stream);
}

// Given back to the quota when the free is enqueued, not when the stream reaches it.
CUresult mem_free_async(Session &s, CUdeviceptr dptr, CUstream stream) {
  if (!s.is_alloc_base(dptr)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memFreeAsync(dptr, s.plain_stream(stream));
  if (rc == CUDA_SUCCESS) s.forget_alloc(dptr);
  return rc;
}

// ---- memory pools ------------------------------------------------------------------------------------

CUresult mem_pool_create(Session &s, CUmemoryPool *pool, const CUmemPoolProps *props) {
  if (pool == nullptr || props == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (s.pool_count() >= kMaxPools) return CUDA_ERROR_OUT_OF_MEMORY;
  CUmemPoolProps p = copy_of(props);
  p.win32SecurityAttributes = nullptr;
  p.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
  int ordinal = -1;
  CUresult rc = location_to_driver(s, &p.location, &ordinal);
  if (rc == CUDA_SUCCESS) rc = s.driver().api().memPoolCreate(pool, &p);
  if (rc == CUDA_SUCCESS) s.note_pool(*pool, ordinal, false);
  return rc;
}

// The session's stand-in for a card's default pool cannot be destroyed, as a default pool cannot.
CUresult mem_pool_destroy(Session &s, CUmemoryPool pool) {
  if (s.pool_ordinal(pool) < 0 || s.is_default_pool(pool)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memPoolDestroy(pool);
  if (rc == CUDA_SUCCESS) s.forget_pool(pool);
  return rc;
}

// Freed memory a pool keeps (up to its release threshold) is not counted against the quota; the
// threshold is capped at the quota, which bounds it.
CUresult mem_pool_set_attribute(Session &s, CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: {
      int v = copy_of((const int *)value);
      return s.driver().api().memPoolSetAttribute(pool, attr, &v);
    }
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: {
      cuuint64_t v = copy_of((const cuuint64_t *)value);
      uint64_t quota = s.quota(s.pool_ordinal(pool));
      if (attr == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD && v > quota) v = quota;
      return s.driver().api().memPoolSetAttribute(pool, attr, &v);
    }
    default:
      return CUDA_ERROR_INVALID_VALUE;  // read-only, or unknown to this build: its size is unknown too
  }
}

CUresult mem_pool_get_attribute(Session &s, CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (value == nullptr || attr < CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES || attr > CU_MEMPOOL_ATTR_USED_MEM_HIGH)
    return CUDA_ERROR_INVALID_VALUE;
  return s.driver().api().memPoolGetAttribute(pool, attr, value);
}

CUresult device_get_default_mem_pool(Session &s, CUmemoryPool *pool, CUdevice dev) {
  CUdevice ignored = 0;
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!s.driver().device((int)dev, &ignored)) return CUDA_ERROR_INVALID_DEVICE;
  return s.default_pool((int)dev, pool);
}

CUresult device_get_mem_pool(Session &s, CUmemoryPool *pool, CUdevice dev) {
  CUdevice ignored = 0;
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!s.driver().device((int)dev, &ignored)) return CUDA_ERROR_INVALID_DEVICE;
  return s.current_pool((int)dev, pool);
}

// The session's own choice: the driver's current pool of the card is every session's.
CUresult device_set_mem_pool(Session &s, CUdevice dev, CUmemoryPool pool) {
  CUdevice ignored = 0;
  if (!s.driver().device((int)dev, &ignored)) return CUDA_ERROR_INVALID_DEVICE;
  if (pool == nullptr || s.pool_ordinal(pool) != (int)dev) return CUDA_ERROR_INVALID_VALUE;
  s.set_current_pool((int)dev, pool);
  return CUDA_SUCCESS;
}

// ---- virtual memory ----------------------------------------------------------------------------------

// Address space takes no memory: not counted.
CUresult mem_address_reserve(Session &s, CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags) {
  if (ptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memAddressReserve(ptr, size, alignment, addr, flags);
  if (rc == CUDA_SUCCESS) s.note_reservation(*ptr, size);
  return rc;
}

// A range of the session, whole, with nothing of the session still mapped in it.
CUresult mem_address_free(Session &s, CUdeviceptr ptr, size_t size) {
  if (!s.is_reservation(ptr, size) || s.any_mapping_in(ptr, size)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memAddressFree(ptr, size);
  if (rc == CUDA_SUCCESS) s.forget_reservation(ptr);
  return rc;
}

CUresult mem_create(Session &s, CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                    unsigned long long flags) {
  if (handle == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUmemAllocationProp p{};
  int ordinal = -1;
  CUresult rc = prop_to_driver(s, prop, &p, &ordinal);
  if (rc != CUDA_SUCCESS) return rc;
  if (!s.fits_quota_on(ordinal, size)) return CUDA_ERROR_OUT_OF_MEMORY;
  rc = s.driver().api().memCreate(handle, size, &p, flags);
  if (rc == CUDA_SUCCESS) s.note_physical(*handle, size, ordinal);
  return rc;
}

// The memory stays counted while it is mapped, as the driver keeps it.
CUresult mem_release(Session &s, CUmemGenericAllocationHandle handle) {
  if (!s.has_physical(handle)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memRelease(handle);
  if (rc == CUDA_SUCCESS) s.release_physical(handle);
  return rc;
}

// Into a range the session reserved: another session's addresses are not its to map.
CUresult mem_map(Session &s, CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                 unsigned long long flags) {
  if (!s.reserved(ptr, size) || !s.has_physical(handle)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memMap(ptr, size, offset, handle, flags);
  if (rc == CUDA_SUCCESS) s.note_mapping(ptr, size, handle);
  return rc;
}

CUresult mem_unmap(Session &s, CUdeviceptr ptr, size_t size) {
  std::vector<CUdeviceptr> bases;
  if (!s.mappings_in(ptr, size, &bases)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memUnmap(ptr, size);
  if (rc == CUDA_SUCCESS) {
    for (CUdeviceptr base : bases) s.forget_mapping(base);
  }
  return rc;
}

CUresult mem_set_access(Session &s, CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
  // The count first: the frame's size check multiplies it, and a huge one wraps around.
  if (desc == nullptr || count == 0 || count > kMaxAccessDescs || !s.reserved(ptr, size)) return CUDA_ERROR_INVALID_VALUE;
  std::vector<CUmemAccessDesc> d(count);
  std::memcpy(d.data(), desc, count * sizeof(CUmemAccessDesc));
  for (CUmemAccessDesc &one : d) {
    int ordinal = -1;
    CUresult rc = location_to_driver(s, &one.location, &ordinal);
    if (rc != CUDA_SUCCESS) return rc;
  }
  return s.driver().api().memSetAccess(ptr, size, d.data(), count);
}

CUresult mem_get_allocation_granularity(Session &s, size_t *granularity, const CUmemAllocationProp *prop,
                                        CUmemAllocationGranularity_flags option) {
  CUmemAllocationProp p{};
  int ordinal = -1;
  CUresult rc = prop_to_driver(s, prop, &p, &ordinal);
  return rc != CUDA_SUCCESS ? rc : s.driver().api().memGetAllocationGranularity(granularity, &p, option);
}

// The driver's answer with the card as the session numbers it, and no daemon pointer in it.
CUresult mem_get_allocation_properties(Session &s, CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle) {
  if (prop == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memGetAllocationPropertiesFromHandle(prop, handle);
  if (rc != CUDA_SUCCESS) return rc;
  prop->win32HandleMetaData = nullptr;
  if (prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE) {
    for (const DeviceInfo &d : s.driver().devices()) {
      if (d.device == (CUdevice)prop->location.id) {
        prop->location.id = d.ordinal;
        break;
      }
    }
  }
  return CUDA_SUCCESS;
}

}  // namespace handlers
}  // namespace gp
