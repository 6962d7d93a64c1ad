// The compute scheduler of each card (docs/sharing.md): time-division of one card between the
// sessions that use it. A card has at most one holder at a time; only the holder submits work.
// Under contention the holder keeps the card for one slice, then the waiter with the highest
// priority (among equals: the least device time per unit of share) takes it. Device time is measured
// with events around each holder's work, never by counting launches. A lone client is never made to
// wait or drain: the card stays its own until someone else wants it.
//
// Threads and processes: each CardClient is driven by its session's thread; the card's state (holder,
// waiters, accounting) lives in shared memory (card_state.h) under the card's robust mutex, which the
// JS thread also takes to read stats or set params. Sessions in the daemon's threads and in worker
// processes are all clients of that one state; a process's CardScheduler is its view of the card.
#ifndef GPUPOOL_ADDON_SCHEDULER_H
#define GPUPOOL_ADDON_SCHEDULER_H

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <cuda.h>

#include "card_state.h"
#include "driver.h"

namespace gp {

struct SchedulerOptions {
  // How long a holder keeps a card that others are waiting for, in device time.
  uint64_t slice_ns = 4'000'000;
  // Work a holder may have queued on the card while a client of higher priority shares it: the
  // wait of that client's next request is bounded by this many of the holder's operations.
  unsigned pace_depth = 2;
  // How long an idle holder keeps the card for its next message before handing it back.
  uint64_t idle_grace_ns = 200'000;
  // How long an idle holder that its rivals owe the card keeps it at least: a synchronous client's
  // round trip between its reply and its next call, which it would otherwise lose the card over.
  uint64_t owed_grace_ns = 1'000'000;
};

struct CardStats {
  unsigned clients = 0;
  unsigned waiting = 0;
  bool busy = false;
  uint64_t device_ns = 0;  // of every client, departed ones included
};

uint64_t now_ns();

class CardClient;

class CardScheduler {
 public:
  // `owner`: this process's tag on the slots it takes (the daemon's 0; a worker's from the daemon).
  CardScheduler(const Driver &driver, const SchedulerOptions &options, SharedCard *card, uint64_t owner)
      : driver_(driver), options_(options), sc_(card), lock_(card), owner_(owner) {}
  ~CardScheduler();
  CardScheduler(const CardScheduler &) = delete;
  CardScheduler &operator=(const CardScheduler &) = delete;
  CardStats stats() const;
  // Frees the slots of an ended process (its card handed on, its device time kept): how many; -1
  // when the card's lock stayed held (by a process stopped with it), to be tried again later.
  int release_owner(uint64_t owner);
  // The longest the daemon's JS thread (or a worker's heartbeat) waits for a card's lock.
  static constexpr uint64_t kJsLockNs = 20'000'000;

 private:
  friend class CardClient;
  // All under lock_; clients are slots of the shared card.
  CardSlot &slot(int i) const { return sc_->slots[i]; }
  // Whether the holder must hand the card over now: it is paused or over its cap, or a client of
  // higher priority waits. (A rival of its own priority is weighed at the end of a slice.)
  bool must_yield(int c, uint64_t now) const;
  bool has_rival(int c) const;
  // A waiter of the holder's priority that has had less device time per unit of share.
  bool rival_owed(int c, double vtime) const;
  int pick(uint64_t now) const;
  void grant_next(uint64_t now);
  void refresh_max_priority();
  double active_vtime_floor(int except) const;
  // The holder's device time per unit of share, its current slice included (estimated from the
  // slice's wall time until the slice is measured).
  double holder_vtime(uint64_t now) const;
  // The share as the virtual time divides by it: shares below kMinWeight count as kMinWeight, so that
  // a tiny share can never overflow the arithmetic into a tie (and so get more than a larger one).
  static constexpr double kMinWeight = 1e-6;
  static double weight(const CardSlot &s) { return s.params.share > kMinWeight ? s.params.share : kMinWeight; }
  double credit(CardSlot &s, uint64_t now) const;
  bool throttled(CardSlot &s, uint64_t now) const { return s.params.limit && credit(s, now) < 0; }
  // Takes a free slot for a client of this process (-1: none free).
  int acquire(const SchedParams &params);
  void free_slot(int i);
  // Sleeps until the card's state changes (lock_ held on entry and return).
  void wait(std::unique_lock<CardLock> &lock, uint64_t timeout_ns);

  // This process's clients, by slot, for waking an idle holder here; and the thread that wakes one
  // when a waiter in another process asks (the card's poke word).
  void add_local(int slot, CardClient *c);
  void remove_local(int slot);
  void wake_holder(int holder, uint64_t owner);
  void watch();

  const Driver &driver_;
  const SchedulerOptions &options_;
  SharedCard *const sc_;
  mutable CardLock lock_;
  const uint64_t owner_;
  std::mutex local_mu_;
  std::map<int, CardClient *> local_;
  std::thread watcher_;
  std::atomic<bool> stop_{false};
};

// A session's presence on one card. Everything but stats() and set_params() runs on the session's
// thread; `current` is the context the session has current, restored after the scheduler's own calls.
class CardClient {
 public:
  // wanted: asks the session's thread to look at its cards again (a waiter needs the card it holds
  // while it is idle). Called from other sessions' threads, never under the card's mutex.
  CardClient(CardScheduler &card, const SchedParams &params, std::function<void()> wanted);
  ~CardClient();
  CardClient(const CardClient &) = delete;
  CardClient &operator=(const CardClient &) = delete;

  // Before work on `stream` (as the driver is given it) in the current context `ctx`: returns once
  // the card is this client's (true), or when the session is ending (false: the work must not run).
  bool begin(CUcontext ctx, CUstream stream);
  // From any thread: the session is ending; a wait for the card returns at once, now and later.
  void cancel();
  // After that work was submitted.
  void end(CUcontext ctx, CUstream stream);
  // The session has nothing queued: hand the card back once this client's work has finished.
  void idle(CUcontext current);
  bool holding() const;
  // How long an idle holder keeps the card for its next call: kKeep while nobody waits (a waiter
  // calls `wanted`); longer while a waiter of its own priority has had more than its share, so that a
  // client owed the card does not lose it between two calls (a synchronous client is never backlogged
  // at the instant its reply goes out); 0: hand it over now.
  static constexpr uint64_t kKeep = UINT64_MAX;
  uint64_t idle_grace_ns() const;
  // Before an idle holder's grace: its work so far is measured (waiting for it when a rival waits;
  // it has usually finished already), and its idle time is not.
  void settle_idle(CUcontext current);
  // Before a context of this client is destroyed: nothing of the scheduler may stay in it.
  void forget_context(CUcontext ctx, CUcontext current);
  void set_params(const SchedParams &params);
  CardClientStats stats() const;

 private:
  friend class CardScheduler;
  struct CtxSlice {
    CUcontext ctx;
    CUevent start;
    std::vector<CUstream> streams;
  };
  // Ends recorded but not yet complete: a holder nobody waits for is measured without draining it.
  struct Pending {
    CUcontext ctx;
    CUevent start;
    std::vector<CUevent> ends;
    unsigned ops;  // operations submitted in that part of the slice
  };
  struct Paced {
    CUcontext ctx;
    CUevent event;
    unsigned ops;  // operations it follows (since the previous one)
  };

  CUevent take_event(CUcontext ctx);
  void give_event(CUcontext ctx, CUevent ev);
  void note_stream(CUcontext ctx, CUstream stream);
  // Closes the current slice's measurement: Pending entries for every context of the slice.
  void close_slice(CUcontext current);
  // Accounts the pending measurements that are complete; with `wait`, waits for all of them.
  void collect(bool wait);
  void release(CUcontext current);
  // Measures everything the holder ran so far (waiting for it), so that vtime_ is exact.
  void settle(CUcontext current);
  void account(uint64_t ns);
  // The holder goes on with the card: its measurement checkpointed once a slice, the stream noted.
  void keep(CUcontext ctx, CUstream stream, uint64_t now);
  // How many operations the client may have queued beyond the running one while it shares the card:
  // a slice's worth of its measured device time per operation (docs/sharing.md, "Deep queues").
  size_t queue_depth() const;
  static constexpr size_t kMaxQueued = 1024;
  // What a client coming back from idle may still be owed, in slices of device time.
  static constexpr double kOwedSlices = 4;
  // The longest a waiter sleeps before it looks at the card again.
  static constexpr uint64_t kWaitCheckNs = 100'000'000;

  CardScheduler &card_;
  const Driver::Api &api_;
  const std::function<void()> wanted_;
  // The client's state on the shared card (under its lock); -1: no slot was free, the client's work
  // runs unscheduled.
  const int slot_;
  CardSlot &s() const { return card_.slot(slot_); }
  std::atomic<bool> cancelled_local_{false};
  // The session's thread only.
  std::vector<CtxSlice> slice_;
  uint64_t slice_checkpoint_ns_ = 0;
  std::deque<Pending> pending_;
  std::deque<Paced> paced_;
  size_t paced_ops_ = 0;  // operations behind paced_
  unsigned unmarked_ = 0;  // operations queued since the last paced event
  unsigned slice_ops_ = 0;  // operations since the slice's measurement was last closed
  double op_ns_ = 0;        // measured device time per operation (a moving average; 0: none yet)
  std::map<CUcontext, std::vector<CUevent>> pool_;
};

// Every card of one driver: their state in shared memory, created here (the daemon), or mapped from
// the daemon's memfd (a session worker).
class Scheduler {
 public:
  Scheduler(const Driver &driver, size_t cards);
  Scheduler(const Driver &driver, size_t cards, int state_fd, uint64_t owner);
  // Before any session exists (the daemon configures it once).
  void configure(const SchedulerOptions &options) { options_ = options; }
  const SchedulerOptions &options() const { return options_; }
  CardScheduler *card(int ordinal) {
    return ordinal >= 0 && (size_t)ordinal < cards_.size() ? cards_[(size_t)ordinal].get() : nullptr;
  }
  size_t size() const { return cards_.size(); }
  // The state's memfd, which a session worker maps.
  int state_fd() const { return state_->fd(); }
  // A worker ended: its slots on every card are freed (see CardScheduler::release_owner); -1: try
  // again later (a card already done stays done: freeing is idempotent).
  int release_owner(uint64_t owner);

 private:
  void build(const Driver &driver, uint64_t owner);
  SchedulerOptions options_;
  std::unique_ptr<CardStateMap> state_;
  std::vector<std::unique_ptr<CardScheduler>> cards_;
};

}  // namespace gp

#endif
