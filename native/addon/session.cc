#include "session.h"

#include <algorithm>
#include <string>

#include "wire.h"

namespace gp {

Session::Session(std::shared_ptr<const Driver> driver, std::vector<uint64_t> quota, std::shared_ptr<Scheduler> sched, SchedParams params)
    : driver_(std::move(driver)), sched_(std::move(sched)), sched_params_(params) {
  const auto &devices = driver_->devices();
  quota_.resize(devices.size());
  used_.assign(devices.size(), 0);
  used_pub_.reset(new std::atomic<uint64_t>[devices.size() + 1]);
  poisoned_.reset(new std::atomic<int>[devices.size() + 1]);
  for (size_t i = 0; i < devices.size(); i++) {
    quota_[i] = i < quota.size() ? quota[i] : (uint64_t)devices[i].total_mem;
    used_pub_[i].store(0, std::memory_order_relaxed);
    poisoned_[i].store(0, std::memory_order_relaxed);
  }
}

bool Session::lookup(uint64_t id, int kind, void **out) const {
  if (id == 0) {
    *out = nullptr;
    return true;
  }
  if (kind == GP_HANDLE_CUstream && (id == 1 || id == 2)) {
    *out = id == 1 ? (void *)CU_STREAM_LEGACY : (void *)CU_STREAM_PER_THREAD;
    return true;
  }
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second.kind != kind) return false;
  *out = it->second.ptr;
  return true;
}

bool Session::lookup_any(uint64_t id, std::initializer_list<int> kinds, void **out, int *kind) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  for (int k : kinds) {
    if (it->second.kind == k) {
      *out = it->second.ptr;
      *kind = k;
      return true;
    }
  }
  return false;
}

uint64_t Session::remember(int kind, void *ptr) {
  if (ptr == nullptr) return 0;
  if (kind == GP_HANDLE_CUstream && ptr == (void *)CU_STREAM_LEGACY) return 1;
  if (kind == GP_HANDLE_CUstream && ptr == (void *)CU_STREAM_PER_THREAD) return 2;
  auto key = std::make_pair(kind, ptr);
  auto it = by_ptr_.find(key);
  if (it != by_ptr_.end()) return it->second;
  int ordinal = kind == GP_HANDLE_CUcontext ? primary_ordinal((CUcontext)ptr) : -1;
  uint64_t id = 0;
  if (ordinal >= 0) {
    id = kPrimaryIdBase + (uint64_t)ordinal;
  } else {
    // 2^47 ids would take centuries of calls; refusing is still better than reusing one.
    if (next_id_ >= kIdLimit) throw ProtocolError("the session ran out of handle ids");
    id = next_id_++;
  }
  CUcontext owner = nullptr;
  if (kind == GP_HANDLE_CUcontext) {
    owner = (CUcontext)ptr;
  } else if (kind != GP_HANDLE_CUlibrary && kind != GP_HANDLE_CUkernel && kind != GP_HANDLE_CUmemoryPool &&
             kind != GP_HANDLE_CUmemGenericAllocationHandle_v1) {
    owner = current();  // libraries and their kernels, pools and VMM memory are context-independent
  }
  by_id_.emplace(id, Handle{kind, ptr, owner});
  by_ptr_.emplace(key, id);
  return id;
}

uint64_t Session::id_of(int kind, void *ptr) const {
  auto it = by_ptr_.find(std::make_pair(kind, ptr));
  return it == by_ptr_.end() ? 0 : it->second;
}

void Session::erase_id(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_ptr_.erase(std::make_pair(it->second.kind, it->second.ptr));
  params_.erase(id);
  by_id_.erase(it);
  last_launch_fn_ = LaunchFn{};
}

void Session::forget(int kind, void *ptr) {
  uint64_t id = id_of(kind, ptr);
  if (id != 0) erase_id(id);
}

size_t Session::checked_size(size_t n) const {
  if (n > kMaxBuffer) {
    throw ProtocolError("a buffer of " + std::to_string(n) + " bytes is over the limit of " + std::to_string(kMaxBuffer));
  }
  return n;
}

// ---- current context, deferred error, counters ---------------------------------------------------

CUresult Session::make_current(uint64_t ctx_id) {
  if (current_valid_ && ctx_id == current_id_) return CUDA_SUCCESS;
  void *ctx = nullptr;
  if (!lookup(ctx_id, GP_HANDLE_CUcontext, &ctx)) {
    bool primary_id = ctx_id >= kPrimaryIdBase && ctx_id - kPrimaryIdBase < driver_->devices().size();
    if (!primary_id) return CUDA_ERROR_INVALID_CONTEXT;
  }
  CUresult rc = driver_->api().ctxSetCurrent((CUcontext)ctx);
  if (rc != CUDA_SUCCESS) {
    current_valid_ = false;
    return rc;
  }
  current_ = (CUcontext)ctx;
  current_id_ = ctx_id;
  current_valid_ = true;
  return CUDA_SUCCESS;
}

void Session::defer_error(CUresult rc) {
  int none = 0;
  deferred_.compare_exchange_strong(none, (int)rc, std::memory_order_relaxed);
}

CUresult Session::take_deferred_error() {
  return (CUresult)deferred_.exchange(0, std::memory_order_relaxed);
}

// Only the session's thread counts: a plain load and store, where a read-modify-write would lock the
// bus once per call for readers (stats()) that only need a recent value.
static inline void bump(std::atomic<uint64_t> &n) { n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

void Session::count_call(bool async) {
  bump(calls_);
  if (async) bump(async_calls_);
}

void Session::count_message() { bump(messages_); }

// ---- contexts --------------------------------------------------------------------------------------

CUresult Session::create_context(CUcontext *out, unsigned flags, int ordinal) {
  CUdevice dev = 0;
  if (!has_card(ordinal) || !driver_->device(ordinal, &dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (CUresult bad = poisoned(ordinal)) return bad;
  const Driver::Api &api = driver_->api();
  // CUDA 13 declares cuCtxCreate as the _v4 entry point (NULL params: a plain context).
  CUresult rc = api.ctxCreateV4.f != nullptr ? api.ctxCreateV4(out, nullptr, flags, dev) : api.ctxCreate(out, flags, dev);
  // cuCtxCreate made the new context current; the next frame sets the one it names. (That may be the
  // id of the primary context just created, which named none a moment ago.)
  current_valid_ = false;
  if (rc == CUDA_SUCCESS) ctx_ordinal_[*out] = ordinal;
  ordinal_known_ = false;
  return rc;
}

void Session::note_created(CUcontext ctx) { created_.insert(ctx); }

Session::Primary *Session::primary(int ordinal) {
  CUdevice dev = 0;
  if (!has_card(ordinal) || !driver_->device(ordinal, &dev)) return nullptr;
  return &primaries_[ordinal];
}

int Session::primary_ordinal(CUcontext ctx) const {
  for (const auto &p : primaries_) {
    if (p.second.ctx == ctx) return p.first;
  }
  return -1;
}

CUresult Session::destroy_context(CUcontext ctx) {
  // cards_ changes only on this thread: reading it here needs no lock (the JS thread's readers do).
  for (auto &c : cards_) c.second->forget_context(ctx, current());
  // Pool memory belongs to its pool, not to the context: given back explicitly first.
  free_async_allocs(ctx);
  CUresult rc = driver_->api().ctxDestroy(ctx);
  if (rc != CUDA_SUCCESS) return rc;
  // Destruction flushes the context's device printf: taken now, while the context is still known.
  char buf[16384];
  for (size_t n; (n = driver_->take_printf(ctx, buf, sizeof buf)) > 0;) orphan_printf_.append(buf, n);
  forget_owned_by(ctx);
  created_.erase(ctx);
  ctx_ordinal_.erase(ctx);
  ordinal_known_ = false;
  for (auto &p : primaries_) {
    if (p.second.ctx == ctx) {
      p.second.ctx = nullptr;
      p.second.refs = 0;
    }
  }
  // The driver popped it if it was current; the next frame makes its own context current again.
  if (current_ == ctx) current_valid_ = false;
  return CUDA_SUCCESS;
}

void Session::forget_owned_by(CUcontext ctx) {
  last_launch_fn_ = LaunchFn{};
  for (auto it = textures_.begin(); it != textures_.end();) it = it->second == ctx ? textures_.erase(it) : std::next(it);
  for (auto it = by_id_.begin(); it != by_id_.end();) {
    if (it->second.owner == ctx) {
      by_ptr_.erase(std::make_pair(it->second.kind, it->second.ptr));
      params_.erase(it->first);
      it = by_id_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = allocs_.begin(); it != allocs_.end();) {
    if (it->second.owner == ctx) {
      bytes_ -= it->second.charged;
      add_used(it->second.ordinal, -(int64_t)it->second.charged);
      it = allocs_.erase(it);
    } else {
      ++it;
    }
  }
  // Arrays and mipmapped arrays go with their context.
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.owner == ctx) {
      add_used(it->second.ordinal, -(int64_t)it->second.bytes);
      levels_.erase((CUmipmappedArray)it->first.second);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- cards that went bad ------------------------------------------------------------------------------

bool Session::poison(int ordinal, CUresult rc) {
  if (ordinal < 0 || (size_t)ordinal >= quota_.size()) return false;
  int none = 0;
  // The first error stays: a card that is also lost after an ECC error still answers the ECC error.
  poisoned_[ordinal].compare_exchange_strong(none, (int)rc, std::memory_order_relaxed);
  return true;
}

CUresult Session::poisoned(int ordinal) const {
  if (ordinal < 0 || (size_t)ordinal >= quota_.size()) return CUDA_SUCCESS;
  return (CUresult)poisoned_[ordinal].load(std::memory_order_relaxed);
}

CUresult Session::poisoned_current() const { return poisoned(current_ordinal()); }

// ---- allocations -----------------------------------------------------------------------------------

int Session::current_ordinal() const {
  const CUcontext ctx = current();
  if (ordinal_known_ && ctx == ordinal_ctx_) return ordinal_;
  auto it = ctx_ordinal_.find(ctx);
  ordinal_ = it == ctx_ordinal_.end() ? -1 : it->second;
  ordinal_ctx_ = ctx;
  ordinal_known_ = true;
  return ordinal_;
}

bool Session::has_card(int ordinal) const {
  return ordinal >= 0 && (size_t)ordinal < quota_.size() && quota_[(size_t)ordinal] > 0;
}

uint64_t Session::quota(int ordinal) const {
  return ordinal >= 0 && (size_t)ordinal < quota_.size() ? quota_[ordinal] : 0;
}

uint64_t Session::used(int ordinal) const {
  return ordinal >= 0 && (size_t)ordinal < used_.size() ? used_[ordinal] : 0;
}

bool Session::fits_quota(size_t size) const {
  // No context of the session is current: the driver refuses the call itself, and nothing is held.
  return fits_quota_on(current_ordinal(), size);
}

bool Session::fits_quota_on(int ordinal, size_t size) const {
  if (ordinal < 0) return true;
  uint64_t q = quota(ordinal), u = used(ordinal);
  return u <= q && (uint64_t)size <= q - u;
}

void Session::add_used(int ordinal, int64_t delta) {
  if (ordinal < 0 || (size_t)ordinal >= used_.size()) return;
  used_[ordinal] = (uint64_t)((int64_t)used_[ordinal] + delta);
}

void Session::add_alloc(CUdeviceptr base, const Allocation &a) {
  forget_alloc(base);
  allocs_.emplace(base, a);
  bytes_ += a.charged;
  add_used(a.ordinal, (int64_t)a.charged);
}

void Session::note_alloc(CUdeviceptr base, size_t size) {
  Allocation a{size, current(), current_ordinal()};
  a.charged = size;
  add_alloc(base, a);
}

bool Session::is_alloc_base(CUdeviceptr base) const {
  auto it = allocs_.find(base);
  return it != allocs_.end() && it->second.kind != Mem::Mapping && it->second.kind != Mem::Global;
}

void Session::note_global(void *loaded, CUdeviceptr base, size_t size) {
  auto it = allocs_.find(base);
  if (it != allocs_.end() && it->second.kind == Mem::Global) return;  // asked again
  Allocation a{size, current(), current_ordinal()};
  a.kind = Mem::Global;  // the module's memory, which the driver counts; charged nothing here
  add_alloc(base, a);
  globals_[loaded].push_back(base);
}

void Session::forget_globals(void *loaded) {
  auto it = globals_.find(loaded);
  if (it == globals_.end()) return;
  for (CUdeviceptr base : it->second) {
    auto a = allocs_.find(base);
    // Its context may have gone first, and the address been given to a later allocation.
    if (a != allocs_.end() && a->second.kind == Mem::Global) forget_alloc(base);
  }
  globals_.erase(it);
}

void Session::forget_alloc(CUdeviceptr base) {
  auto it = allocs_.find(base);
  if (it == allocs_.end()) return;
  bytes_ -= it->second.charged;
  add_used(it->second.ordinal, -(int64_t)it->second.charged);
  CUmemGenericAllocationHandle mapped = it->second.kind == Mem::Mapping ? it->second.mapped : 0;
  allocs_.erase(it);
  if (mapped != 0) unref_physical(mapped);
}

bool Session::owns_range(CUdeviceptr ptr, size_t size) const {
  auto it = allocs_.upper_bound(ptr);
  if (it == allocs_.begin()) return false;
  --it;
  CUdeviceptr base = it->first;
  size_t have = it->second.size;
  return ptr - base <= have && size <= have - (size_t)(ptr - base);
}

// ---- bounds checks --------------------------------------------------------------------------------

CUresult Session::check_device(uint32_t op, const char *param, CUdeviceptr ptr, Extent extent, CUresult refuse_with) {
  if (extent.exact() && extent.bytes() == 0) return CUDA_SUCCESS;  // touches nothing
  if (!extent.overflowed() && owns_range(ptr, extent.unknown() ? 1 : (size_t)extent.bytes())) return CUDA_SUCCESS;
  return refuse(Refusal{op, param, ptr, extent, refuse_with});
}

CUresult Session::refuse(const Refusal &r) {
  refusals_.fetch_add(1, std::memory_order_relaxed);
  if (!refused_before_) {
    refused_before_ = true;
    first_refusal_pending_ = true;
    first_refusal_ = r;
  }
  return r.rc;
}

bool Session::take_refusal(Refusal *out) {
  if (!first_refusal_pending_) return false;
  first_refusal_pending_ = false;
  *out = first_refusal_;
  return true;
}

// ---- launches --------------------------------------------------------------------------------------

const std::vector<ParamSlot> *Session::param_layout(uint64_t id) const {
  auto it = params_.find(id);
  return it == params_.end() ? nullptr : &it->second;
}

void Session::set_param_layout(uint64_t id, std::vector<ParamSlot> slots) {
  params_[id] = std::move(slots);
  last_launch_fn_ = LaunchFn{};
}

void *Session::param_scratch(size_t size) {
  size_t words = size / sizeof(uint64_t) + 1;
  if (scratch_.size() < words) scratch_.resize(words);
  return scratch_.data();
}

// ---- the end ---------------------------------------------------------------------------------------

void Session::teardown() {
  const Driver::Api &api = driver_->api();
  // Off the cards first, while the contexts the scheduler's events live in still exist.
  for (auto &c : cards_) c.second->idle(current());
  {
    std::lock_guard<std::mutex> lock(sched_mu_);
    cards_.clear();
  }
  last_card_ = nullptr;
  last_card_ordinal_ = -1;
  working_ = nullptr;
  // Shared memory is registered with the contexts: unregistered while they exist.
  shared_memory.clear(*this);
  // Pools and VMM memory belong to no context either: freed through the driver while contexts exist.
  release_memory_objects();
  // Libraries belong to no context: unload them first, while their contexts still exist.
  for (const auto &h : by_id_) {
    if (h.second.kind == GP_HANDLE_CUlibrary) api.libraryUnload((CUlibrary)h.second.ptr);
  }
  // Destroying a context frees everything in it: memory, streams, events, modules.
  for (CUcontext ctx : created_) api.ctxDestroy(ctx);
  for (const auto &p : primaries_) {
    if (p.second.ctx != nullptr) api.ctxDestroy(p.second.ctx);
  }
  api.ctxSetCurrent(nullptr);
  // Device printf their destruction flushed has no job left to go to: taken, so the driver frees it.
  take_printf([](const void *, size_t) {});
  by_id_.clear();
  by_ptr_.clear();
  created_.clear();
  ctx_ordinal_.clear();
  ordinal_known_ = false;
  primaries_.clear();
  allocs_.clear();
  globals_.clear();
  held_.clear();
  levels_.clear();
  physical_.clear();
  reservations_.clear();
  pools_.clear();
  default_pool_.clear();
  current_pool_.clear();
  bytes_ = 0;
  used_.assign(used_.size(), 0);
  params_.clear();
  last_launch_fn_ = LaunchFn{};
  scratch_.clear();
  current_ = nullptr;
  current_valid_ = false;
  deferred_.store(0, std::memory_order_relaxed);
  publish();
}

// ---- compute scheduling ------------------------------------------------------------------------------

CUresult Session::begin_work(CUstream stream, bool per_thread) {
  working_ = nullptr;
  if (!sched_) return CUDA_SUCCESS;
  int ordinal = current_ordinal();
  CardScheduler *card = sched_->card(ordinal);
  if (card == nullptr) return CUDA_SUCCESS;
  // The card of the last work, most of the time: no lock, no lookup.
  CardClient *client = last_card_ordinal_ == ordinal ? last_card_ : nullptr;
  if (client == nullptr) {
    std::lock_guard<std::mutex> lock(sched_mu_);
    std::unique_ptr<CardClient> &slot = cards_[ordinal];
    if (!slot) {
      slot = std::make_unique<CardClient>(*card, sched_params_, wake_);
      if (cancelled_) slot->cancel();
    }
    client = slot.get();
    last_card_ = client;
    last_card_ordinal_ = ordinal;
  }
  working_stream_ = stream == nullptr && per_thread ? CU_STREAM_PER_THREAD : stream;
  if (!client->begin(current(), working_stream_)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  working_ = client;
  return CUDA_SUCCESS;
}

void Session::cancel_waits() {
  std::lock_guard<std::mutex> lock(sched_mu_);
  cancelled_ = true;
  for (auto &c : cards_) c.second->cancel();
}

void Session::end_work() {
  if (working_ == nullptr) return;
  working_->end(current(), working_stream_);
  working_ = nullptr;
}

// Draining a card can take a while: it runs without sched_mu_, which only guards cards_ against the
// JS thread's readers (cards_ itself changes only on this thread).
uint64_t Session::idle_grace_ns() {
  for (auto &c : cards_) c.second->settle_idle(current());
  uint64_t grace = CardClient::kKeep;
  bool holding = false;
  for (const auto &c : cards_) {
    if (!c.second->holding()) continue;
    holding = true;
    grace = std::min(grace, c.second->idle_grace_ns());
  }
  return holding ? grace : 0;
}

void Session::sched_idle() {
  for (auto &c : cards_) c.second->idle(current());
}

void Session::set_sched_params(const SchedParams &params) {
  std::lock_guard<std::mutex> lock(sched_mu_);
  sched_params_ = params;
  for (auto &c : cards_) c.second->set_params(params);
}

void Session::publish() {
  uint64_t contexts = created_.size();
  for (const auto &p : primaries_) contexts += p.second.ctx != nullptr ? 1 : 0;
  n_handles_.store(by_id_.size(), std::memory_order_relaxed);
  n_contexts_.store(contexts, std::memory_order_relaxed);
  n_allocs_.store(allocs_.size(), std::memory_order_relaxed);
  alloc_bytes_.store(bytes_, std::memory_order_relaxed);
  for (size_t i = 0; i < used_.size(); i++) used_pub_[i].store(used_[i], std::memory_order_relaxed);
}

SessionStats Session::stats() const {
  SessionStats s{};
  s.calls = calls_.load(std::memory_order_relaxed);
  s.async_calls = async_calls_.load(std::memory_order_relaxed);
  s.refusals = refusals_.load(std::memory_order_relaxed);
  s.shared_regions = shared_memory.regions();
  s.shared_bytes = shared_memory.mapped_bytes();
  s.shared_copies = shared_memory.copies();
  s.call_ring = shared_memory.ring_in_use();
  s.messages = messages_.load(std::memory_order_relaxed);
  s.handles = n_handles_.load(std::memory_order_relaxed);
  s.contexts = n_contexts_.load(std::memory_order_relaxed);
  s.allocations = n_allocs_.load(std::memory_order_relaxed);
  s.allocated_bytes = alloc_bytes_.load(std::memory_order_relaxed);
  s.deferred_error = deferred_.load(std::memory_order_relaxed);
  s.quota = quota_;  // fixed at construction
  s.used.resize(quota_.size());
  for (size_t i = 0; i < quota_.size(); i++) s.used[i] = used_pub_[i].load(std::memory_order_relaxed);
  s.poisoned.resize(quota_.size());
  for (size_t i = 0; i < quota_.size(); i++) s.poisoned[i] = poisoned_[i].load(std::memory_order_relaxed);
  s.sched.resize(quota_.size());
  std::lock_guard<std::mutex> lock(sched_mu_);
  for (const auto &c : cards_) {
    if ((size_t)c.first < s.sched.size()) s.sched[(size_t)c.first] = c.second->stats();
  }
  return s;
}

}  // namespace gp
