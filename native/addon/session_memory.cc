// The memory a session holds besides cuMemAlloc*'s (session.h): arrays, stream-ordered allocations and
// the session's memory pools, and VMM memory, reservations and mappings. What each counts against the
// quota: docs/operations.md, "Memory quotas".
#include "session.h"

#include <iterator>

namespace gp {

CUstream Session::plain_stream(CUstream stream) const {
  return stream == nullptr && call_per_thread_ ? CU_STREAM_PER_THREAD : stream;
}

bool Session::stream_card(CUstream stream, CUcontext *ctx, int *ordinal) const {
  *ctx = current();
  if (stream != nullptr && stream != CU_STREAM_LEGACY && stream != CU_STREAM_PER_THREAD) {
    auto id = by_ptr_.find({GP_HANDLE_CUstream, (void *)stream});
    auto h = id == by_ptr_.end() ? by_id_.end() : by_id_.find(id->second);
    if (h == by_id_.end()) return false;
    *ctx = h->second.owner;
  }
  auto card = ctx_ordinal_.find(*ctx);
  if (*ctx == nullptr || card == ctx_ordinal_.end()) return false;
  *ordinal = card->second;
  return true;
}

// ---- arrays ------------------------------------------------------------------------------------------

void Session::note_held(int kind, void *handle, size_t bytes) {
  int ordinal = current_ordinal();
  held_[{kind, handle}] = Held{bytes, ordinal, current()};
  add_used(ordinal, (int64_t)bytes);
}

bool Session::forget_held(int kind, void *handle) {
  auto it = held_.find({kind, handle});
  if (it == held_.end()) return false;
  add_used(it->second.ordinal, -(int64_t)it->second.bytes);
  held_.erase(it);
  forget(kind, handle);
  return true;
}

void Session::note_level(CUmipmappedArray mipmap, CUarray level) { levels_[mipmap].push_back(level); }

void Session::forget_levels(CUmipmappedArray mipmap) {
  auto it = levels_.find(mipmap);
  if (it == levels_.end()) return;
  for (CUarray level : it->second) forget(GP_HANDLE_CUarray, level);
  levels_.erase(it);
}

// ---- stream-ordered allocations and pools -------------------------------------------------------------

void Session::note_async_alloc(CUdeviceptr base, size_t size, CUcontext owner, int ordinal) {
  Allocation a{size, owner, ordinal};
  a.kind = Mem::Async;
  a.charged = size;
  add_alloc(base, a);
}

void Session::free_async_allocs(CUcontext ctx) {
  const Driver::Api &api = driver_->api();
  std::vector<CUcontext> synced;
  for (auto it = allocs_.begin(); it != allocs_.end();) {
    const Allocation &a = it->second;
    if (a.kind != Mem::Async || (ctx != nullptr && a.owner != ctx)) {
      ++it;
      continue;
    }
    // On the legacy stream of its own context, which is then synchronised: the memory is free after.
    if (api.ctxSetCurrent(a.owner) == CUDA_SUCCESS) {
      api.memFreeAsync(it->first, nullptr);
      api.ctxSynchronize();
    }
    current_valid_ = false;  // the next frame makes its own context current again
    bytes_ -= a.charged;
    add_used(a.ordinal, -(int64_t)a.charged);
    it = allocs_.erase(it);
  }
}

void Session::note_pool(CUmemoryPool pool, int ordinal, bool is_default) { pools_[pool] = Pool{ordinal, is_default}; }

int Session::pool_ordinal(CUmemoryPool pool) const {
  auto it = pools_.find(pool);
  return it == pools_.end() ? -1 : it->second.ordinal;
}

size_t Session::pool_count() const {
  size_t n = 0;
  for (const auto &p : pools_) n += p.second.is_default ? 0 : 1;
  return n;
}

bool Session::is_default_pool(CUmemoryPool pool) const {
  auto it = pools_.find(pool);
  return it != pools_.end() && it->second.is_default;
}

void Session::forget_pool(CUmemoryPool pool) {
  auto it = pools_.find(pool);
  if (it == pools_.end()) return;
  auto current = current_pool_.find(it->second.ordinal);
  if (current != current_pool_.end() && current->second == pool) current_pool_.erase(current);
  pools_.erase(it);
  forget(GP_HANDLE_CUmemoryPool, pool);
}

// A private pool per session and card stands in for the card's default pool, which every session of
// the daemon's process would otherwise share (and with it each other's freed memory).
CUresult Session::default_pool(int ordinal, CUmemoryPool *out) {
  auto it = default_pool_.find(ordinal);
  if (it != default_pool_.end()) {
    *out = it->second;
    return CUDA_SUCCESS;
  }
  CUdevice dev = 0;
  if (!driver_->device(ordinal, &dev)) return CUDA_ERROR_INVALID_DEVICE;
  CUmemPoolProps props{};
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = (int)dev;
  CUresult rc = driver_->api().memPoolCreate(out, &props);
  if (rc != CUDA_SUCCESS) return rc;
  default_pool_[ordinal] = *out;
  note_pool(*out, ordinal, true);
  return CUDA_SUCCESS;
}

CUresult Session::current_pool(int ordinal, CUmemoryPool *out) {
  auto it = current_pool_.find(ordinal);
  if (it != current_pool_.end()) {
    *out = it->second;
    return CUDA_SUCCESS;
  }
  return default_pool(ordinal, out);
}

// ---- VMM ---------------------------------------------------------------------------------------------

void Session::note_physical(CUmemGenericAllocationHandle handle, size_t bytes, int ordinal) {
  physical_[handle] = Physical{bytes, ordinal, 0, false};
  add_used(ordinal, (int64_t)bytes);
}

bool Session::has_physical(CUmemGenericAllocationHandle handle) const {
  auto it = physical_.find(handle);
  return it != physical_.end() && !it->second.released;
}

// The driver keeps released memory while it is mapped: so does the count.
void Session::unref_physical(CUmemGenericAllocationHandle handle) {
  auto it = physical_.find(handle);
  if (it == physical_.end()) return;
  if (it->second.mappings > 0) it->second.mappings--;
  if (!it->second.released || it->second.mappings > 0) return;
  add_used(it->second.ordinal, -(int64_t)it->second.bytes);
  physical_.erase(it);
}

void Session::release_physical(CUmemGenericAllocationHandle handle) {
  auto it = physical_.find(handle);
  if (it == physical_.end()) return;
  forget(GP_HANDLE_CUmemGenericAllocationHandle_v1, (void *)handle);
  it->second.released = true;
  if (it->second.mappings > 0) return;
  add_used(it->second.ordinal, -(int64_t)it->second.bytes);
  physical_.erase(it);
}

bool Session::is_reservation(CUdeviceptr base, size_t size) const {
  auto it = reservations_.find(base);
  return it != reservations_.end() && it->second == size;
}

bool Session::reserved(CUdeviceptr ptr, size_t size) const {
  auto it = reservations_.upper_bound(ptr);
  if (it == reservations_.begin()) return false;
  --it;
  size_t off = (size_t)(ptr - it->first);
  return off <= it->second && size <= it->second - off;
}

bool Session::any_mapping_in(CUdeviceptr ptr, size_t size) const {
  auto it = allocs_.upper_bound(ptr);
  if (it != allocs_.begin()) {
    auto before = std::prev(it);
    if (before->second.kind == Mem::Mapping && ptr - before->first < before->second.size) return true;
  }
  for (; it != allocs_.end() && it->first - ptr < size; ++it) {
    if (it->second.kind == Mem::Mapping) return true;
  }
  return false;
}

void Session::note_mapping(CUdeviceptr base, size_t size, CUmemGenericAllocationHandle handle) {
  Allocation a{size, nullptr, physical_.count(handle) ? physical_[handle].ordinal : -1};
  a.kind = Mem::Mapping;
  a.mapped = handle;
  add_alloc(base, a);
  auto it = physical_.find(handle);
  if (it != physical_.end()) it->second.mappings++;
}

bool Session::mappings_in(CUdeviceptr ptr, size_t size, std::vector<CUdeviceptr> *bases) const {
  bases->clear();
  CUdeviceptr cursor = ptr;
  for (auto it = allocs_.lower_bound(ptr); it != allocs_.end() && cursor - ptr < size; ++it) {
    if (it->first != cursor || it->second.kind != Mem::Mapping || it->second.size > size - (cursor - ptr)) return false;
    bases->push_back(it->first);
    cursor += it->second.size;
  }
  return !bases->empty() && cursor - ptr == size;
}

void Session::forget_mapping(CUdeviceptr base) { forget_alloc(base); }

// ---- the end -----------------------------------------------------------------------------------------

void Session::release_memory_objects() {
  const Driver::Api &api = driver_->api();
  free_async_allocs(nullptr);
  for (const auto &a : allocs_) {
    if (a.second.kind == Mem::Mapping) api.memUnmap(a.first, a.second.size);
  }
  for (const auto &p : physical_) {
    if (!p.second.released) api.memRelease(p.first);
  }
  for (const auto &r : reservations_) api.memAddressFree(r.first, r.second);
  for (const auto &p : pools_) api.memPoolDestroy(p.first);
}

}  // namespace gp
