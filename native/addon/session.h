// One client's state on the daemon (docs/protocol.md, "Sessions"): its handle table (a client can
// name only ids it was given), its contexts (primary ones private to it), its allocations, its
// deferred error and counters. Used by one thread at a time (the session's own); stats() may be
// read from any thread.
#ifndef GPUPOOL_ADDON_SESSION_H
#define GPUPOOL_ADDON_SESSION_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cuda.h>

#include <mutex>

#include "driver.h"
#include "extent.h"
#include "gp_ops.h"
#include "scheduler.h"
#include "shared_memory.h"

namespace gp {

// A kernel parameter's place in the params buffer (cuKernelGetParamInfo / cuFuncGetParamInfo).
struct ParamSlot {
  size_t offset;
  size_t size;
};

struct SessionStats {
  uint64_t calls, async_calls, messages, handles, contexts, allocations, allocated_bytes, refusals;
  uint64_t shared_regions, shared_bytes, shared_copies;  // the local job's shared memory (shared_memory.h)
  bool call_ring;  // the session's calls come through a call ring (call_ring.h)
  int deferred_error;
  std::vector<uint64_t> quota, used;  // per card, by ordinal
  std::vector<int> poisoned;           // per card, by ordinal: the CUresult its calls answer; 0: none
  std::vector<CardClientStats> sched;  // per card, by ordinal: the scheduler's view of the session
};

class Session {
 public:
  // Ids 0, 1 and 2 are NULL, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD; handed-out ids start here.
  static constexpr uint64_t kFirstId = 16;
  // A device's primary context is always this plus its ordinal (docs/protocol.md): the client hands
  // out the handle before it retains the context. Other ids stay below it.
  static constexpr uint64_t kPrimaryIdBase = uint64_t(1) << 47;
  static constexpr uint64_t kIdLimit = kPrimaryIdBase;
  // The largest buffer a call may make the daemon hold (an output buffer, a reply).
  static constexpr size_t kMaxBuffer = size_t(1) << 31;

  // quota: device memory the session may hold on each card, by ordinal (docs/operations.md, "Memory
  // quotas"); a card without an entry (an empty vector: every card) has its whole memory as quota. A
  // card whose entry is 0 was not given to the session (placement chose others): it cannot be used.
  // sched: the cards' schedulers (nullptr: work goes to the cards unscheduled), with the session's
  // share and priority on every card (docs/sharing.md).
  explicit Session(std::shared_ptr<const Driver> driver, std::vector<uint64_t> quota = {}, std::shared_ptr<Scheduler> sched = nullptr,
                   SchedParams params = {});
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  const Driver &driver() const { return *driver_; }
  // Texture and surface objects (texture_handlers.cc): their values are the driver's own, since kernels
  // take them as parameters, so the session records which are its: only those may be destroyed or
  // described. Forgotten with their context.
  void note_texture(bool surface, uint64_t obj) { textures_[{surface, obj}] = current(); }
  bool owns_texture(bool surface, uint64_t obj) const { return textures_.count({surface, obj}) != 0; }
  void forget_texture(bool surface, uint64_t obj) { textures_.erase({surface, obj}); }
  // Conditional handles (graph_handler.cc): values of the driver's own, since kernels take them as
  // parameters; a conditional node may name only one the session made on that graph. Forgotten with it.
  void note_conditional(uint64_t handle, CUgraph graph) { conditionals_[handle] = graph; }
  bool conditional_of(uint64_t handle, CUgraph graph) const {
    auto it = conditionals_.find(handle);
    return it != conditionals_.end() && it->second == graph;
  }
  void forget_conditionals(CUgraph graph) {
    for (auto it = conditionals_.begin(); it != conditionals_.end();) it = it->second == graph ? conditionals_.erase(it) : std::next(it);
  }
  // Hands emit(data, size) each piece of device printf the session's contexts flushed (the emulated
  // driver's; a real driver writes its own to the daemon's stdout): the replies carry it to the job.
  template <typename Emit>
  void take_printf(Emit emit) {
    if (!orphan_printf_.empty()) {
      emit(orphan_printf_.data(), orphan_printf_.size());
      orphan_printf_.clear();
    }
    char buf[16384];
    for (const auto &entry : ctx_ordinal_)
      for (size_t n; (n = driver_->take_printf(entry.first, buf, sizeof buf)) > 0;) emit(buf, n);
  }

  // ---- what the generated dispatcher uses ----
  // The object behind an id of that kind, if this session was given it.
  bool lookup(uint64_t id, int kind, void **out) const;
  // The id for an object the driver handed out (the same object keeps its id); 0 for NULL.
  uint64_t remember(int kind, void *ptr);
  // n, or a ProtocolError when a call asks the daemon to hold more than kMaxBuffer bytes.
  size_t checked_size(size_t n) const;

  // ---- the frame loop ----
  // Makes the context with this id current on the calling thread (0: none). A primary context's id
  // names no context until it is retained: then no context is current, as with an inactive one.
  CUresult make_current(uint64_t ctx_id);
  CUcontext current() const { return current_valid_ ? current_ : nullptr; }
  CUresult deferred_error() const { return (CUresult)deferred_.load(std::memory_order_relaxed); }
  // Keeps the first failure of fire-and-forget calls until a sync call collects it.
  void defer_error(CUresult rc);
  CUresult take_deferred_error();
  void count_call(bool async);
  void count_message();

  // ---- what the handlers use ----
  // The id's object when it is of one of these kinds (launches accept a CUkernel or a CUfunction).
  bool lookup_any(uint64_t id, std::initializer_list<int> kinds, void **out, int *kind) const;
  uint64_t id_of(int kind, void *ptr) const;
  void forget(int kind, void *ptr);
  // Creates a context for a device ordinal; the next frame makes its own context current again.
  CUresult create_context(CUcontext *out, unsigned flags, int ordinal);
  // Destroys a context of this session and forgets everything it owned.
  CUresult destroy_context(CUcontext ctx);
  bool created_context(CUcontext ctx) const { return created_.count(ctx) != 0; }
  void note_created(CUcontext ctx);
  void forget_created(CUcontext ctx) { created_.erase(ctx); }

  struct Primary {
    CUcontext ctx = nullptr;
    unsigned flags = 0;
    int refs = 0;
  };
  // The session's private "primary" context of a device ordinal; nullptr when out of range.
  Primary *primary(int ordinal);
  // The device ordinal whose primary context this is, or -1.
  int primary_ordinal(CUcontext ctx) const;

  // Whether the session was given this card (its quota entry is more than 0). Every call naming another
  // card answers CUDA_ERROR_INVALID_DEVICE, so no context, and no work, can land on it.
  bool has_card(int ordinal) const;

  // ---- cards that went bad (docs/operations.md, "Faults") ----
  // From any thread: every later call of the session on that card answers `rc` without reaching the
  // driver, and no context can be made on it. Never cleared: the session's state there is lost.
  // False when there is no such card.
  bool poison(int ordinal, CUresult rc);
  // The error of the card of the current context (CUDA_SUCCESS: none, or no context).
  CUresult poisoned_current() const;
  CUresult poisoned(int ordinal) const;

  // ---- memory quota (per card) ----
  // The device ordinal of the current context, or -1 (no context, or one the session does not know).
  int current_ordinal() const;
  uint64_t quota(int ordinal) const;
  uint64_t used(int ordinal) const;
  // Whether `size` more bytes fit in the quota of the card of the current context. The session's
  // calls all run on its one thread, in order, so a plain counter per card is enough: two threads of
  // the client cannot allocate at once here, and together they never pass the quota.
  bool fits_quota(size_t size) const;
  // The same on a given card (memory whose card is not the current context's: VMM, pools).
  bool fits_quota_on(int ordinal, size_t size) const;

  void note_alloc(CUdeviceptr base, size_t size);
  // A cuMemFree-able allocation's base (cuMemAlloc*, stream-ordered), not a VMM mapping's.
  bool is_alloc_base(CUdeviceptr base) const;
  void forget_alloc(CUdeviceptr base);
  // Whether [ptr, ptr+size) lies inside one allocation (or one VMM mapping) of this session.
  bool owns_range(CUdeviceptr ptr, size_t size) const;
  // A __device__/__constant__ variable of a module or library the session loaded: memory the session
  // may copy to and from (cudaMemcpyToSymbol), never free, gone when its module or library is.
  void note_global(void *loaded, CUdeviceptr base, size_t size);
  void forget_globals(void *loaded);

  // ---- the other memory a session holds (session_memory.cc): arrays, memory pools, VMM ----
  // The call being run is a per-thread variant: a NULL stream means the per-thread default stream.
  void set_call_per_thread(bool per_thread) { call_per_thread_ = per_thread; }
  // The stream as the driver's plain (not per-thread) entry points take it.
  CUstream plain_stream(CUstream stream) const;
  // The context and card of a stream (the current context's for the default streams); false when
  // the session knows neither.
  bool stream_card(CUstream stream, CUcontext *ctx, int *ordinal) const;
  // Memory behind a handle (an array, a mipmapped array), counted on the current card until the
  // handle is destroyed or its context is.
  void note_held(int kind, void *handle, size_t bytes);
  bool forget_held(int kind, void *handle);
  bool holds(int kind, void *handle) const { return held_.count({kind, handle}) != 0; }
  // A mipmapped array's level handed out: forgotten with the mipmapped array.
  void note_level(CUmipmappedArray mipmap, CUarray level);
  void forget_levels(CUmipmappedArray mipmap);
  // A stream-ordered allocation, counted on `ordinal`, freed with `owner` (the stream's context).
  void note_async_alloc(CUdeviceptr base, size_t size, CUcontext owner, int ordinal);
  // Memory pools the session made (its private default ones among them), by card.
  void note_pool(CUmemoryPool pool, int ordinal, bool is_default);
  int pool_ordinal(CUmemoryPool pool) const;
  size_t pool_count() const;  // pools the client created (not the private default ones)
  bool is_default_pool(CUmemoryPool pool) const;
  void forget_pool(CUmemoryPool pool);
  // The session's current pool of a card (its private default one unless set), made at first use.
  CUresult current_pool(int ordinal, CUmemoryPool *out);
  CUresult default_pool(int ordinal, CUmemoryPool *out);
  void set_current_pool(int ordinal, CUmemoryPool pool) { current_pool_[ordinal] = pool; }
  // VMM: physical memory (counted on its card until released and unmapped), reserved ranges, and
  // mappings (ranges copies may use, counted through their memory).
  void note_physical(CUmemGenericAllocationHandle handle, size_t bytes, int ordinal);
  bool has_physical(CUmemGenericAllocationHandle handle) const;
  void release_physical(CUmemGenericAllocationHandle handle);
  void note_reservation(CUdeviceptr base, size_t size) { reservations_[base] = size; }
  bool is_reservation(CUdeviceptr base, size_t size) const;
  void forget_reservation(CUdeviceptr base) { reservations_.erase(base); }
  // Whether [ptr, ptr+size) lies inside one reservation of the session.
  bool reserved(CUdeviceptr ptr, size_t size) const;
  bool any_mapping_in(CUdeviceptr ptr, size_t size) const;
  void note_mapping(CUdeviceptr base, size_t size, CUmemGenericAllocationHandle handle);
  // The mappings [ptr, ptr+size) is made of, whole and back to back; false when it is not that.
  bool mappings_in(CUdeviceptr ptr, size_t size, std::vector<CUdeviceptr> *bases) const;
  void forget_mapping(CUdeviceptr base);

  // ---- compute scheduling (scheduler.h) ----
  // Around every call that puts work on a card: waits until the card of the current context is the
  // session's. `stream` as the driver is given it; per_thread: the call is a per-thread variant.
  // CUDA_ERROR_DEVICE_UNAVAILABLE: the session is ending while the work waited; it must not run.
  CUresult begin_work(CUstream stream, bool per_thread);
  // From any thread, when the session is told to stop: waits for a card end at once.
  void cancel_waits();
  void end_work();
  // The session has nothing queued: hand its cards back.
  void sched_idle();
  // How long to keep the cards for the next message (the session's work so far is measured first);
  // CardClient::kKeep: until a waiter calls the wake function.
  uint64_t idle_grace_ns();
  // What a waiter on a card this session holds calls (before the session's thread starts).
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }
  // From any thread (schedule windows, reloads).
  void set_sched_params(const SchedParams &params);
  // ---- bounds checks (docs/security.md, "Bounds checks") ----
  // A call refused because it named device memory outside the session's allocations.
  struct Refusal {
    uint32_t op;        // the frame's op
    const char *param;  // the parameter's name (a literal)
    CUdeviceptr ptr;
    Extent extent;
    CUresult rc;
  };
  // CUDA_SUCCESS when the call may touch `extent` bytes from `ptr`: they lie inside one allocation of
  // the session, or there are none. Else `refuse` (what the driver answers for memory it does not
  // know), without calling it, and the refusal is counted and kept for the daemon's log.
  CUresult check_device(uint32_t op, const char *param, CUdeviceptr ptr, Extent extent, CUresult refuse);
  // Counts a refusal a handler decided itself; returns rc.
  CUresult refuse(const Refusal &r);
  // The session's first refusal, once (later ones are only counted: a client cannot flood the log).
  bool take_refusal(Refusal *out);

  // The cached parameter layout of a kernel or function id (nullptr: not asked yet).
  const std::vector<ParamSlot> *param_layout(uint64_t id) const;
  void set_param_layout(uint64_t id, std::vector<ParamSlot> slots);
  // Scratch space for a launch's parameters, 8-byte aligned.
  void *param_scratch(size_t size);
  // The kernelParams array a launch hands the driver (pointers into param_scratch), kept between
  // launches so that one costs no allocation.
  std::vector<void *> &param_pointers() { return param_pointers_; }
  // The function the last launch named, resolved: its handle, its layout and where its last parameter
  // ends. A loop launching one kernel looks nothing up; forgotten whenever a handle or layout goes.
  struct LaunchFn {
    uint64_t id = 0;
    void *f = nullptr;
    const std::vector<ParamSlot> *slots = nullptr;
    size_t end = 0;
  };
  LaunchFn &last_launch_fn() { return last_launch_fn_; }

  // Unloads the session's libraries, destroys its contexts (and with them everything in them),
  // forgets everything. Runs on the session's thread when the session ends.
  void teardown();

  // The local job's shared memory regions (shared_memory.h), and whether a refusal was logged.
  SharedMemory shared_memory;
  bool shared_memory_said = false;

  // Refreshes the counters stats() reports (the session's thread, after each message).
  void publish();
  SessionStats stats() const;

 private:
  struct Handle {
    int kind;
    void *ptr;
    CUcontext owner;  // the context whose destruction ends it; nullptr: none (libraries, kernels)
  };
  enum class Mem : uint8_t { Plain, Async, Mapping, Global };
  struct Allocation {
    size_t size;
    CUcontext owner;  // nullptr: a mapping, which no context's end frees
    int ordinal;      // the card it is on: -1 when unknown (it then counts against no quota)
    Mem kind = Mem::Plain;
    size_t charged = 0;  // what it counts against the quota (a mapping: 0, its memory is counted)
    CUmemGenericAllocationHandle mapped = 0;  // a mapping's physical memory
  };
  struct Held {
    size_t bytes;
    int ordinal;
    CUcontext owner;
  };
  struct Physical {
    size_t bytes;
    int ordinal;
    unsigned mappings;
    bool released;
  };
  struct Pool {
    int ordinal;
    bool is_default;
  };
  void add_used(int ordinal, int64_t delta);
  void forget_owned_by(CUcontext ctx);
  void add_alloc(CUdeviceptr base, const Allocation &a);
  void unref_physical(CUmemGenericAllocationHandle handle);
  // Frees the stream-ordered allocations of ctx (all of them: nullptr) through the driver.
  void free_async_allocs(CUcontext ctx);
  // Unmaps, releases and frees the session's VMM memory and destroys its pools (teardown).
  void release_memory_objects();
  void erase_id(uint64_t id);

  std::shared_ptr<const Driver> driver_;
  std::unordered_map<uint64_t, Handle> by_id_;
  std::map<std::pair<int, void *>, uint64_t> by_ptr_;
  uint64_t next_id_ = kFirstId;

  CUcontext current_ = nullptr;
  uint64_t current_id_ = 0;
  bool current_valid_ = false;

  std::set<CUcontext> created_;
  std::map<CUcontext, int> ctx_ordinal_;  // every context the session made, with its card
  // Device printf a context flushed as it was destroyed, until the next reply carries it.
  std::string orphan_printf_;
  // Texture (false) and surface (true) objects the session made, with the context whose end destroys them.
  std::map<std::pair<bool, uint64_t>, CUcontext> textures_;
  std::map<uint64_t, CUgraph> conditionals_;
  std::map<int, Primary> primaries_;
  std::map<CUdeviceptr, Allocation> allocs_;
  std::map<std::pair<int, void *>, Held> held_;
  std::map<CUmipmappedArray, std::vector<CUarray>> levels_;
  std::map<CUmemGenericAllocationHandle, Physical> physical_;
  std::map<CUdeviceptr, size_t> reservations_;
  std::map<CUmemoryPool, Pool> pools_;
  std::map<int, CUmemoryPool> default_pool_, current_pool_;
  bool call_per_thread_ = false;
  uint64_t bytes_ = 0;
  std::vector<uint64_t> quota_;                           // by ordinal
  std::vector<uint64_t> used_;                            // by ordinal: bytes allocated on that card
  std::unique_ptr<std::atomic<uint64_t>[]> used_pub_;     // used_, as stats() reads it
  std::unique_ptr<std::atomic<int>[]> poisoned_;          // by ordinal: set by the JS thread
  std::unordered_map<uint64_t, std::vector<ParamSlot>> params_;
  std::vector<uint64_t> scratch_;
  std::vector<void *> param_pointers_;
  LaunchFn last_launch_fn_;
  // current_ordinal()'s answer for the context it was asked of (ctx_ordinal_ changes forget it).
  mutable CUcontext ordinal_ctx_ = nullptr;
  mutable int ordinal_ = -1;
  mutable bool ordinal_known_ = false;

  std::shared_ptr<Scheduler> sched_;
  mutable std::mutex sched_mu_;  // cards_ and sched_params_: the JS thread reads stats and sets params
  SchedParams sched_params_;
  std::map<int, std::unique_ptr<CardClient>> cards_;
  CardClient *working_ = nullptr;  // between begin_work and end_work
  CardClient *last_card_ = nullptr;  // the card of the last work (cards_ entries live until teardown)
  int last_card_ordinal_ = -1;
  std::function<void()> wake_;
  bool cancelled_ = false;  // under sched_mu_
  CUstream working_stream_ = nullptr;
  bool first_refusal_pending_ = false, refused_before_ = false;
  // The variables each module or library (the driver's handle) has shown the session.
  std::map<void *, std::vector<CUdeviceptr>> globals_;
  Refusal first_refusal_{0, "", 0, Extent(0), CUDA_SUCCESS};

  std::atomic<int> deferred_{0};
  std::atomic<uint64_t> calls_{0}, async_calls_{0}, messages_{0}, refusals_{0};
  std::atomic<uint64_t> n_handles_{0}, n_contexts_{0}, n_allocs_{0}, alloc_bytes_{0};
};

// begin_work/end_work around one call of a hand-written handler.
class WorkScope {
 public:
  WorkScope(Session &s, CUstream stream, bool per_thread) : rc(s.begin_work(stream, per_thread)), s_(s) {}
  ~WorkScope() { s_.end_work(); }
  WorkScope(const WorkScope &) = delete;
  WorkScope &operator=(const WorkScope &) = delete;
  const CUresult rc;  // what begin_work said: anything but success means the call must not run

 private:
  Session &s_;
};

}  // namespace gp

#endif
