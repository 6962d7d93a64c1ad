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
#include <unordered_map>
#include <utility>
#include <vector>

#include <cuda.h>

#include <mutex>

#include "driver.h"
#include "gp_ops.h"
#include "scheduler.h"

namespace gp {

// A kernel parameter's place in the params buffer (cuKernelGetParamInfo / cuFuncGetParamInfo).
struct ParamSlot {
  size_t offset;
  size_t size;
};

struct SessionStats {
  uint64_t calls, async_calls, messages, handles, contexts, allocations, allocated_bytes;
  int deferred_error;
  std::vector<uint64_t> quota, used;  // per card, by ordinal
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

  // ---- memory quota (per card) ----
  // The device ordinal of the current context, or -1 (no context, or one the session does not know).
  int current_ordinal() const;
  uint64_t quota(int ordinal) const;
  uint64_t used(int ordinal) const;
  // Whether `size` more bytes fit in the quota of the card of the current context. The session's
  // calls all run on its one thread, in order, so a plain counter per card is enough: two threads of
  // the client cannot allocate at once here, and together they never pass the quota.
  bool fits_quota(size_t size) const;

  void note_alloc(CUdeviceptr base, size_t size);
  bool is_alloc_base(CUdeviceptr base) const { return allocs_.count(base) != 0; }
  void forget_alloc(CUdeviceptr base);
  // Whether [ptr, ptr+size) lies inside one allocation of this session.
  bool owns_range(CUdeviceptr ptr, size_t size) const;

  // ---- compute scheduling (scheduler.h) ----
  // Around every call that puts work on a card: waits until the card of the current context is the
  // session's. `stream` as the driver is given it; per_thread: the call is a per-thread variant.
  // CUDA_ERROR_DEVICE_UNAVAILABLE: the session is ending while the work waited; it must not run.
  CUresult begin_work(CUstream stream, bool per_thread);
  // From any thread, when the session is told to stop: waits for a card end at once.
  void cancel_waits();
  void end_work();
  // Whether the session holds a card; idle(): it has nothing queued, so hand its cards back.
  bool sched_holding() const;
  void sched_idle();
  // How long to keep the cards for the next message (the session's work so far is measured first);
  // CardClient::kKeep: until a waiter calls the wake function.
  uint64_t idle_grace_ns();
  // What a waiter on a card this session holds calls (before the session's thread starts).
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }
  // From any thread (schedule windows, reloads).
  void set_sched_params(const SchedParams &params);

  // The cached parameter layout of a kernel or function id (nullptr: not asked yet).
  const std::vector<ParamSlot> *param_layout(uint64_t id) const;
  void set_param_layout(uint64_t id, std::vector<ParamSlot> slots);
  // Scratch space for a launch's parameters, 8-byte aligned.
  void *param_scratch(size_t size);

  // Unloads the session's libraries, destroys its contexts (and with them everything in them),
  // forgets everything. Runs on the session's thread when the session ends.
  void teardown();

  // Refreshes the counters stats() reports (the session's thread, after each message).
  void publish();
  SessionStats stats() const;

 private:
  struct Handle {
    int kind;
    void *ptr;
    CUcontext owner;  // the context whose destruction ends it; nullptr: none (libraries, kernels)
  };
  struct Allocation {
    size_t size;
    CUcontext owner;
    int ordinal;  // the card it is on: -1 when unknown (it then counts against no quota)
  };
  void add_used(int ordinal, int64_t delta);
  void forget_owned_by(CUcontext ctx);
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
  std::map<int, Primary> primaries_;
  std::map<CUdeviceptr, Allocation> allocs_;
  uint64_t bytes_ = 0;
  std::vector<uint64_t> quota_;                           // by ordinal
  std::vector<uint64_t> used_;                            // by ordinal: bytes allocated on that card
  std::unique_ptr<std::atomic<uint64_t>[]> used_pub_;     // used_, as stats() reads it
  std::unordered_map<uint64_t, std::vector<ParamSlot>> params_;
  std::vector<uint64_t> scratch_;

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

  std::atomic<int> deferred_{0};
  std::atomic<uint64_t> calls_{0}, async_calls_{0}, messages_{0};
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
