#include "scheduler.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <limits>

namespace gp {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1'000'000'000ULL + (uint64_t)ts.tv_nsec;
}

// The same clock as of its last tick (a few ms behind at most, never ahead): all a lone holder's
// slice checkpoint needs, without reading the hardware clock on every call (under a hypervisor
// that read was an eighth of a launch's cost in the session).
static uint64_t coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1'000'000'000ULL + (uint64_t)ts.tv_nsec;
}

// ---- the card ------------------------------------------------------------------------------------

CardScheduler::~CardScheduler() {
  if (!watcher_.joinable()) return;
  stop_ = true;
  sc_->poke.fetch_add(1);
  futex_wake_all(&sc_->poke);
  watcher_.join();
}

CardStats CardScheduler::stats() const {
  // On the JS thread: a worker stopped while holding the lock must not stop the daemon. Then the
  // figures are read as they stand (each an aligned word; a status may see one update half-made).
  std::unique_lock<CardLock> lock(lock_, std::defer_lock);
  if (lock_.try_lock_for(kJsLockNs)) lock = std::unique_lock<CardLock>(lock_, std::adopt_lock);
  CardStats s;
  s.busy = sc_->holder >= 0;
  s.device_ns = sc_->departed_ns;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    const CardSlot &c = slot(i);
    if (!c.used) continue;
    s.clients++;
    if (c.waiting) s.waiting++;
    s.device_ns += c.stats.device_ns;
  }
  return s;
}

double CardScheduler::credit(CardSlot &s, uint64_t now) const {
  if (now > s.credit_at) {
    s.credit_ns = std::min((double)options_.slice_ns, s.credit_ns + s.params.share * (double)(now - s.credit_at));
    s.credit_at = now;
  }
  return s.credit_ns;
}

bool CardScheduler::must_yield(int c, uint64_t now) const {
  CardSlot &h = slot(c);
  if (h.params.paused || throttled(h, now)) return true;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    CardSlot &w = slot(i);
    if (i == c || !w.used || !w.waiting || w.params.paused || throttled(w, now)) continue;
    if (w.params.priority > h.params.priority) return true;  // strict priority between classes
  }
  return false;
}

bool CardScheduler::has_rival(int c) const {
  const CardSlot &h = slot(c);
  for (int i = 0; i < SharedCard::kSlots; i++) {
    const CardSlot &w = slot(i);
    if (i != c && w.used && w.waiting && !w.params.paused && w.params.priority == h.params.priority) return true;
  }
  return false;
}

bool CardScheduler::rival_owed(int c, double vtime) const {
  uint64_t now = now_ns();
  const CardSlot &h = slot(c);
  for (int i = 0; i < SharedCard::kSlots; i++) {
    CardSlot &w = slot(i);
    if (i == c || !w.used || !w.waiting || w.params.paused || throttled(w, now) || w.params.priority != h.params.priority) continue;
    if (w.vtime < vtime) return true;
  }
  return false;
}

int CardScheduler::pick(uint64_t now) const {
  int best = -1;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    CardSlot &w = slot(i);
    if (!w.used || !w.waiting || w.params.paused || throttled(w, now)) continue;
    if (best < 0 || w.params.priority > slot(best).params.priority ||
        (w.params.priority == slot(best).params.priority && w.vtime < slot(best).vtime)) {
      best = i;
    }
  }
  return best;
}

void CardScheduler::grant_next(uint64_t now) {
  if (sc_->holder < 0) {
    sc_->holder = pick(now);
    if (sc_->holder >= 0) {
      sc_->grant_ns = now;
      sc_->measured_ns = now;
      slot(sc_->holder).stats.slices++;
      // Only a grant wakes the waiters: one that looks again and finds nothing new wakes nobody.
      card_changed(sc_);
    }
  }
}

void CardScheduler::refresh_max_priority() {
  int m = -1;
  unsigned at_max = 0;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    const CardSlot &c = slot(i);
    if (!c.used) continue;
    if (c.params.priority > m) m = c.params.priority, at_max = 0;
    if (c.params.priority == m) at_max++;
  }
  sc_->max_priority.store(m, std::memory_order_relaxed);
  sc_->n_at_max.store(at_max, std::memory_order_relaxed);
}

double CardScheduler::holder_vtime(uint64_t now) const {
  if (sc_->holder < 0) return 0;
  const CardSlot &h = slot(sc_->holder);
  return h.vtime + (double)(now - sc_->measured_ns) / weight(h);
}

double CardScheduler::active_vtime_floor(int except) const {
  double floor = 0;
  bool any = false;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    const CardSlot &c = slot(i);
    if (i == except || !c.used || !(c.waiting || i == sc_->holder)) continue;
    floor = any ? std::min(floor, c.vtime) : c.vtime;
    any = true;
  }
  return floor;
}

int CardScheduler::acquire(const SchedParams &params) {
  for (int i = 0; i < SharedCard::kSlots; i++) {
    CardSlot &c = slot(i);
    if (c.used) continue;
    c.used = 1;
    c.owner = owner_;
    c.params = params;
    c.waiting = c.owed_checked = c.cancelled = false;
    c.priority.store(params.priority, std::memory_order_relaxed);
    c.restricted.store(params.paused || params.limit);
    // A newcomer starts level with those already competing: shares are not banked from before.
    c.vtime = active_vtime_floor(i);
    c.credit_ns = (double)options_.slice_ns;
    c.credit_at = now_ns();
    c.stats = CardClientStats{};
    refresh_max_priority();
    return i;
  }
  return -1;
}

void CardScheduler::free_slot(int i) {
  CardSlot &c = slot(i);
  sc_->departed_ns += c.stats.device_ns;
  c.used = 0;
  if (c.waiting) sc_->waiters.fetch_sub(1);
  c.waiting = false;
  refresh_max_priority();
  if (sc_->holder == i) sc_->holder = -1;
  grant_next(now_ns());
}

int CardScheduler::release_owner(uint64_t owner) {
  if (owner == owner_) return 0;  // never this process's own clients: they free their slots themselves
  if (!lock_.try_lock_for(kJsLockNs)) return -1;
  std::lock_guard<CardLock> lock(lock_, std::adopt_lock);
  int n = 0;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    if (slot(i).used && slot(i).owner == owner) {
      free_slot(i);
      n++;
    }
  }
  return n;
}

void CardScheduler::wait(std::unique_lock<CardLock> &lock, uint64_t timeout_ns) {
  const uint32_t seen = sc_->seq.load();
  lock.unlock();
  card_wait(sc_, seen, timeout_ns);
  lock.lock();
}

void CardScheduler::add_local(int slot, CardClient *c) {
  std::lock_guard<std::mutex> lock(local_mu_);
  local_[slot] = c;
  if (!watcher_.joinable()) watcher_ = std::thread([this] { watch(); });
}

void CardScheduler::remove_local(int slot) {
  std::lock_guard<std::mutex> lock(local_mu_);
  local_.erase(slot);
}

void CardScheduler::wake_holder(int holder, uint64_t owner) {
  if (owner != owner_) {
    // In another process: its watcher looks at its own clients.
    sc_->poke.fetch_add(1);
    futex_wake_all(&sc_->poke);
    return;
  }
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(local_mu_);
    auto it = local_.find(holder);
    if (it != local_.end()) wake = it->second->wanted_;
  }
  if (wake) wake();
}

void CardScheduler::watch() {
  pthread_setname_np(pthread_self(), "gp-card-watch");
  // `seen` is taken once and then only from what woke the thread: a poke that comes while it handles
  // the last one is seen by the next wait, never lost.
  uint32_t seen = sc_->poke.load();
  while (true) {
    futex_wait(&sc_->poke, seen, UINT64_MAX);
    if (stop_) return;
    const uint32_t now = sc_->poke.load();
    if (now == seen) continue;
    seen = now;
    int holder;
    uint64_t owner;
    {
      std::lock_guard<CardLock> lock(lock_);
      holder = sc_->holder;
      owner = holder >= 0 ? slot(holder).owner : 0;
    }
    if (holder >= 0 && owner == owner_) wake_holder(holder, owner);
  }
}

// ---- one client on the card ----------------------------------------------------------------------

CardClient::CardClient(CardScheduler &card, const SchedParams &params, std::function<void()> wanted)
    : card_(card), api_(card.driver_.api()), wanted_(std::move(wanted)), slot_([&] {
        std::lock_guard<CardLock> lock(card.lock_);
        return card.acquire(params);
      }()) {
  if (slot_ < 0) {
    fprintf(stderr, "gpupool: every scheduling slot of a card is taken (%d): this session's work there runs unscheduled\n", SharedCard::kSlots);
    return;
  }
  card_.add_local(slot_, this);
}

CardClient::~CardClient() {
  if (slot_ < 0) return;
  card_.remove_local(slot_);
  std::lock_guard<CardLock> lock(card_.lock_);
  card_.free_slot(slot_);
}

CUevent CardClient::take_event(CUcontext ctx) {
  std::vector<CUevent> &free = pool_[ctx];
  if (!free.empty()) {
    CUevent ev = free.back();
    free.pop_back();
    return ev;
  }
  CUevent ev = nullptr;
  if (api_.eventCreate(&ev, CU_EVENT_DEFAULT) != CUDA_SUCCESS) return nullptr;
  return ev;
}

void CardClient::give_event(CUcontext ctx, CUevent ev) {
  if (ev != nullptr) pool_[ctx].push_back(ev);
}

void CardClient::note_stream(CUcontext ctx, CUstream stream) {
  slice_ops_++;
  for (CtxSlice &s : slice_) {
    if (s.ctx != ctx) continue;
    if (std::find(s.streams.begin(), s.streams.end(), stream) == s.streams.end()) s.streams.push_back(stream);
    return;
  }
  // The start of this context's share of the slice: the stream reaches it once the client's own
  // earlier work there is done, so time is not counted twice.
  CUevent start = take_event(ctx);
  if (start != nullptr && api_.eventRecord(start, stream) != CUDA_SUCCESS) {
    give_event(ctx, start);
    start = nullptr;
  }
  slice_.push_back(CtxSlice{ctx, start, {stream}});
}

void CardClient::close_slice(CUcontext current) {
  for (CtxSlice &s : slice_) {
    if (s.start == nullptr) continue;
    if (s.ctx != current) api_.ctxSetCurrent(s.ctx);
    Pending p{s.ctx, s.start, {}, slice_ops_};
    slice_ops_ = 0;  // counted once, with the slice's first context
    for (CUstream stream : s.streams) {
      CUevent end = take_event(s.ctx);
      if (end == nullptr) continue;
      if (api_.eventRecord(end, stream) == CUDA_SUCCESS) p.ends.push_back(end);
      else give_event(s.ctx, end);
    }
    if (s.ctx != current) api_.ctxSetCurrent(current);
    pending_.push_back(std::move(p));
  }
  slice_.clear();
  slice_ops_ = 0;
}

void CardClient::collect(bool wait) {
  while (!pending_.empty()) {
    Pending &p = pending_.front();
    bool complete = true;
    for (CUevent end : p.ends) {
      CUresult rc = wait ? api_.eventSynchronize(end) : api_.eventQuery(end);
      if (rc == CUDA_ERROR_NOT_READY) {
        complete = false;
        break;
      }
    }
    if (!complete) return;
    // The longest stream of the slice: concurrent streams of one client share the card's time.
    uint64_t ns = 0;
    for (CUevent end : p.ends) {
      float ms = 0;
      if (api_.eventElapsedTime(&ms, p.start, end) == CUDA_SUCCESS && ms > 0) ns = std::max(ns, (uint64_t)((double)ms * 1e6));
      give_event(p.ctx, end);
    }
    give_event(p.ctx, p.start);
    if (p.ops > 0 && ns > 0) {
      const double per_op = (double)ns / p.ops;
      op_ns_ = op_ns_ == 0 ? per_op : 0.75 * op_ns_ + 0.25 * per_op;
    }
    pending_.pop_front();
    account(ns);
  }
}

void CardClient::account(uint64_t ns) {
  if (ns == 0 || slot_ < 0) return;
  std::lock_guard<CardLock> lock(card_.lock_);
  CardSlot &me = s();
  me.stats.device_ns += ns;
  me.vtime += (double)ns / CardScheduler::weight(me);
  if (me.params.limit) {
    card_.credit(me, now_ns());
    me.credit_ns -= (double)ns;
  }
}

void CardClient::release(CUcontext current) {
  close_slice(current);
  // Everything the client queued is done before anyone else's work reaches the card, so the next
  // holder's time is its own and this client's measurement is complete.
  for (const Paced &p : paced_) {
    api_.eventSynchronize(p.event);
    give_event(p.ctx, p.event);
  }
  paced_.clear();
  paced_ops_ = 0;
  unmarked_ = 0;  // drained with the slice (its end events follow every operation)
  collect(true);
  if (slot_ < 0) return;
  std::lock_guard<CardLock> lock(card_.lock_);
  if (card_.sc_->holder == slot_) card_.sc_->holder = -1;
  card_.grant_next(now_ns());
}

void CardClient::settle(CUcontext current) {
  close_slice(current);
  collect(true);
  std::lock_guard<CardLock> lock(card_.lock_);
  if (card_.sc_->holder == slot_) card_.sc_->measured_ns = now_ns();
}

void CardClient::cancel() {
  cancelled_local_ = true;
  if (slot_ < 0) return;
  std::lock_guard<CardLock> lock(card_.lock_);
  s().cancelled = true;
  card_changed(card_.sc_);
}

bool CardClient::begin(CUcontext ctx, CUstream stream) {
  if (slot_ < 0) return !cancelled_local_;
  SharedCard *sc = card_.sc_;
  CardSlot &me = s();
  // The holder while nobody waits, neither paused nor capped: nothing to decide, no lock to take (a
  // waiter that arrives meanwhile is seen at the next operation, as it would be after the lock).
  if (sc->holder.load() == slot_ && sc->waiters.load() == 0 && !me.restricted.load(std::memory_order_relaxed)) {
    keep(ctx, stream, coarse_now_ns());
    return true;
  }
  uint64_t now = now_ns();
  std::unique_lock<CardLock> lock(card_.lock_);
  if (sc->holder == slot_) {
    bool yield = card_.must_yield(slot_, now);
    const bool expired = now - sc->grant_ns >= card_.options_.slice_ns;
    // A rival of its priority waits, and the slice is over, or the rival seems owed the card (the
    // holder may have it only because the rival was not ready): measure exactly what ran, then the
    // card goes to whoever has had less of its share. A holder still owed the card starts a new slice.
    if (!yield && card_.has_rival(slot_) && (expired || (!me.owed_checked && card_.rival_owed(slot_, card_.holder_vtime(now))))) {
      lock.unlock();
      settle(ctx);
      lock.lock();
      now = now_ns();
      yield = card_.rival_owed(slot_, me.vtime) || card_.must_yield(slot_, now);
      me.owed_checked = !yield;  // until the next slice: the estimate overstates a holder with gaps
      if (!yield && expired) {
        sc->grant_ns = now;
        me.owed_checked = false;
      }
    }
    if (!yield) {
      lock.unlock();
      keep(ctx, stream, now);
      return true;
    }
    lock.unlock();
    release(ctx);
    lock.lock();
  }
  if (me.cancelled) return false;
  me.waiting = true;
  sc->waiters.fetch_add(1);
  // Back from idle: level with the clients competing, less a few slices it may still be owed. A
  // client away for a round trip (a synchronous one, between its reply and its next call) keeps
  // what its neighbours' work cost it meanwhile; a long idle banks no more than that.
  me.vtime = std::max(me.vtime, card_.active_vtime_floor(slot_) - kOwedSlices * (double)card_.options_.slice_ns / CardScheduler::weight(me));
  const uint64_t since = now;
  card_.grant_next(now);
  if (sc->holder >= 0 && sc->holder != slot_) {
    // The holder may be idle, keeping the card for a next call: it must look again now (in this
    // process, through its session's wake function; in another, through that process's watcher).
    const int holder = sc->holder;
    const uint64_t owner = card_.slot(holder).owner;
    lock.unlock();
    card_.wake_holder(holder, owner);
    lock.lock();
  }
  bool waited = false;
  while (sc->holder != slot_) {
    if (me.cancelled) {
      me.waiting = false;
      sc->waiters.fetch_sub(1);
      card_.grant_next(now_ns());
      return false;
    }
    waited = true;
    if (!me.params.paused && card_.throttled(me, now)) {
      // A hard cap: wait until the share has earned the card back, even if the card is idle.
      double owed = -card_.credit(me, now) / CardScheduler::weight(me);
      card_.wait(lock, (uint64_t)std::min(owed + 1000.0, 1e9));
    } else {
      // Bounded, so that a waiter looks again even if a wake were lost with a process that died;
      // an idle holder is asked again then.
      card_.wait(lock, kWaitCheckNs);
      const int holder = sc->holder;
      if (holder >= 0 && holder != slot_ && now_ns() - now >= kWaitCheckNs) {
        const uint64_t owner = card_.slot(holder).owner;
        lock.unlock();
        card_.wake_holder(holder, owner);
        lock.lock();
      }
    }
    now = now_ns();
    card_.grant_next(now);
  }
  me.waiting = false;
  sc->waiters.fetch_sub(1);
  me.owed_checked = false;
  if (waited) {
    me.stats.waits++;
    me.stats.wait_ns += now - since;
  }
  lock.unlock();
  slice_checkpoint_ns_ = now;
  note_stream(ctx, stream);
  return true;
}

void CardClient::keep(CUcontext ctx, CUstream stream, uint64_t now) {
  // Nobody is owed the card: measure what ran so far without draining the client's queue.
  // (now may be the coarse clock, behind a checkpoint taken with the fine one.)
  if (now > slice_checkpoint_ns_ && now - slice_checkpoint_ns_ >= card_.options_.slice_ns) {
    close_slice(ctx);
    collect(false);
    slice_checkpoint_ns_ = now;
  }
  note_stream(ctx, stream);
}

size_t CardClient::queue_depth() const {
  // Until an operation has been measured: the pace depth, a short queue.
  if (op_ns_ <= 0) return std::max<size_t>(1, card_.options_.pace_depth);
  // At least one: the card always has the client's next operation, whatever the session thread's
  // latency (operations longer than a slice then wait at most for one more).
  return (size_t)std::max(1.0, std::min((double)kMaxQueued, (double)card_.options_.slice_ns / op_ns_));
}

void CardClient::end(CUcontext ctx, CUstream stream) {
  if (slot_ < 0) return;
  // Work already queued on a GPU cannot be taken back: what a client queues is time its neighbours
  // will wait, whatever the scheduler decides. So while a client of its priority shares the card, a
  // client keeps at most a slice's worth queued, and a slice ends on time however deep its batches;
  // beside a client of higher priority, paceDepth operations. Alone at the top priority (alone on
  // the card, or beside lower classes only, which wait for it anyway), queueing deep costs nobody.
  const bool outranked = card_.sc_->max_priority.load(std::memory_order_relaxed) > s().priority.load(std::memory_order_relaxed);
  if (!outranked && card_.sc_->n_at_max.load(std::memory_order_relaxed) < 2) return;
  const size_t depth = outranked ? card_.options_.pace_depth : queue_depth();
  // An event every few operations (a quarter of the depth) is enough to know what is still queued,
  // and spares a deep queue of small kernels an event per kernel.
  const unsigned step = (unsigned)std::max<size_t>(1, depth / 4);
  if (++unmarked_ < step) return;
  CUevent ev = take_event(ctx);
  if (ev == nullptr) return;
  if (api_.eventRecord(ev, stream) != CUDA_SUCCESS) {
    give_event(ctx, ev);
    return;
  }
  paced_.push_back(Paced{ctx, ev, unmarked_});
  paced_ops_ += unmarked_;
  unmarked_ = 0;
  while (!paced_.empty() && paced_ops_ > depth) {
    api_.eventSynchronize(paced_.front().event);
    give_event(paced_.front().ctx, paced_.front().event);
    paced_ops_ -= paced_.front().ops;
    paced_.pop_front();
  }
}

void CardClient::settle_idle(CUcontext current) {
  if (slot_ < 0) return;
  bool rival;
  {
    std::lock_guard<CardLock> lock(card_.lock_);
    if (card_.sc_->holder != slot_) return;
    rival = card_.has_rival(slot_);
  }
  if (rival) {
    settle(current);
    return;
  }
  // Keeping the card with nothing to do: the slice's measurement ends here, so that the idle time
  // until the next call is not counted as device time (the next call starts a new one).
  close_slice(current);
  collect(false);
  slice_checkpoint_ns_ = now_ns();
}

uint64_t CardClient::idle_grace_ns() const {
  if (slot_ < 0) return 0;
  const SchedulerOptions &o = card_.options_;
  std::lock_guard<CardLock> lock(card_.lock_);
  if (card_.sc_->holder != slot_) return 0;
  const CardSlot &me = s();
  uint64_t now = now_ns(), held = now - card_.sc_->grant_ns;
  for (int i = 0; i < SharedCard::kSlots; i++) {
    const CardSlot &w = card_.slot(i);
    if (i != slot_ && w.used && w.waiting && w.params.priority > me.params.priority) return 0;
  }
  // A rival of its priority that is owed the card gets it now; if it is owed by every rival, it keeps
  // the card for the rest of the slice. Otherwise idle time is given away after a short grace
  // (work-conserving).
  if (card_.has_rival(slot_)) {
    if (card_.rival_owed(slot_, card_.holder_vtime(now))) return 0;
    return std::max(o.owed_grace_ns, held < o.slice_ns ? o.slice_ns - held : 0);
  }
  for (int i = 0; i < SharedCard::kSlots; i++) {
    const CardSlot &w = card_.slot(i);
    if (i != slot_ && w.used && w.waiting) return o.idle_grace_ns;  // of lower priority: idle time is theirs
  }
  // Nobody waits: keep the card (no drain, no hand-over) until someone does.
  return kKeep;
}

bool CardClient::holding() const {
  if (slot_ < 0) return false;
  std::lock_guard<CardLock> lock(card_.lock_);
  return card_.sc_->holder == slot_;
}

void CardClient::idle(CUcontext current) {
  if (holding()) release(current);
}

void CardClient::forget_context(CUcontext ctx, CUcontext current) {
  if (!slice_.empty() || !pending_.empty() || !paced_.empty()) release(current);
  // Its events die with it.
  pool_.erase(ctx);
}

void CardClient::set_params(const SchedParams &params) {
  if (slot_ < 0) return;
  std::lock_guard<CardLock> lock(card_.lock_);
  s().params = params;
  s().priority.store(params.priority, std::memory_order_relaxed);
  s().restricted.store(params.paused || params.limit);
  card_.refresh_max_priority();
  card_.grant_next(now_ns());
  card_changed(card_.sc_);  // a waiter paused or capped until now looks again
}

CardClientStats CardClient::stats() const {
  if (slot_ < 0) return CardClientStats{};
  // Read by the daemon's JS thread or a worker's heartbeat, which must go on while a stopped process
  // holds the lock (else every worker on the card would look hung): then as they stand.
  std::unique_lock<CardLock> lock(card_.lock_, std::defer_lock);
  if (card_.lock_.try_lock_for(CardScheduler::kJsLockNs)) lock = std::unique_lock<CardLock>(card_.lock_, std::adopt_lock);
  return s().stats;
}

// ---- every card --------------------------------------------------------------------------------------

Scheduler::Scheduler(const Driver &driver, size_t cards) : state_(std::make_unique<CardStateMap>(cards)) { build(driver, 0); }

Scheduler::Scheduler(const Driver &driver, size_t cards, int state_fd, uint64_t owner)
    : state_(std::make_unique<CardStateMap>(state_fd, cards)) {
  build(driver, owner);
}

void Scheduler::build(const Driver &driver, uint64_t owner) {
  for (size_t i = 0; i < state_->size(); i++) cards_.push_back(std::make_unique<CardScheduler>(driver, options_, state_->card(i), owner));
}

int Scheduler::release_owner(uint64_t owner) {
  int n = 0;
  for (auto &c : cards_) {
    const int freed = c->release_owner(owner);
    if (freed < 0) return -1;
    n += freed;
  }
  return n;
}

}  // namespace gp
