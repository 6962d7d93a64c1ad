#include "scheduler.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>

namespace gp {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1'000'000'000ULL + (uint64_t)ts.tv_nsec;
}

// ---- the card ------------------------------------------------------------------------------------

CardStats CardScheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  CardStats s;
  s.clients = (unsigned)clients_.size();
  s.busy = holder_ != nullptr;
  s.device_ns = departed_ns_;
  for (const CardClient *c : clients_) {
    if (c->waiting_) s.waiting++;
    s.device_ns += c->stats_.device_ns;
  }
  return s;
}

bool CardScheduler::must_yield(const CardClient *c, uint64_t now) const {
  if (c->params_.paused || c->throttled(now)) return true;
  for (const CardClient *w : clients_) {
    if (w == c || !w->waiting_ || w->params_.paused || w->throttled(now)) continue;
    if (w->params_.priority > c->params_.priority) return true;  // strict priority between classes
  }
  return false;
}

bool CardScheduler::has_rival(const CardClient *c) const {
  for (const CardClient *w : clients_) {
    if (w != c && w->waiting_ && !w->params_.paused && w->params_.priority == c->params_.priority) return true;
  }
  return false;
}

bool CardScheduler::rival_owed(const CardClient *c, double vtime) const {
  uint64_t now = now_ns();
  for (const CardClient *w : clients_) {
    if (w == c || !w->waiting_ || w->params_.paused || w->throttled(now) || w->params_.priority != c->params_.priority) continue;
    if (w->vtime_ < vtime) return true;
  }
  return false;
}

CardClient *CardScheduler::pick(uint64_t now) const {
  CardClient *best = nullptr;
  for (CardClient *w : clients_) {
    if (!w->waiting_ || w->params_.paused || w->throttled(now)) continue;
    if (best == nullptr || w->params_.priority > best->params_.priority ||
        (w->params_.priority == best->params_.priority && w->vtime_ < best->vtime_)) {
      best = w;
    }
  }
  return best;
}

void CardScheduler::grant_next(uint64_t now) {
  if (holder_ == nullptr) {
    holder_ = pick(now);
    if (holder_ != nullptr) {
      grant_ns_ = now;
      measured_ns_ = now;
      holder_->stats_.slices++;
    }
  }
  cv_.notify_all();
}

void CardScheduler::refresh_max_priority() {
  int m = -1;
  unsigned at_max = 0;
  for (const CardClient *c : clients_) {
    if (c->params_.priority > m) m = c->params_.priority, at_max = 0;
    if (c->params_.priority == m) at_max++;
  }
  max_priority_.store(m, std::memory_order_relaxed);
  n_at_max_.store(at_max, std::memory_order_relaxed);
}

double CardScheduler::holder_vtime(uint64_t now) const {
  if (holder_ == nullptr) return 0;
  return holder_->vtime_ + (double)(now - measured_ns_) / holder_->weight();
}

double CardScheduler::active_vtime_floor(const CardClient *except) const {
  double floor = 0;
  bool any = false;
  for (const CardClient *c : clients_) {
    if (c == except || !(c->waiting_ || c == holder_)) continue;
    floor = any ? std::min(floor, c->vtime_) : c->vtime_;
    any = true;
  }
  return floor;
}

// ---- one client on the card ----------------------------------------------------------------------

CardClient::CardClient(CardScheduler &card, const SchedParams &params, std::function<void()> wanted)
    : card_(card), api_(card.driver_.api()), wanted_(std::move(wanted)), params_(params), priority_(params.priority) {
  std::lock_guard<std::mutex> lock(card_.mu_);
  // A newcomer starts level with those already competing: shares are not banked from before.
  vtime_ = card_.active_vtime_floor(this);
  credit_ns_ = (double)card_.options_.slice_ns;
  credit_at_ = now_ns();
  card_.clients_.push_back(this);
  card_.refresh_max_priority();
}

CardClient::~CardClient() {
  std::lock_guard<std::mutex> lock(card_.mu_);
  card_.clients_.erase(std::remove(card_.clients_.begin(), card_.clients_.end(), this), card_.clients_.end());
  card_.departed_ns_ += stats_.device_ns;
  card_.refresh_max_priority();
  if (card_.holder_ == this) card_.holder_ = nullptr;
  card_.grant_next(now_ns());
}

double CardClient::credit(uint64_t now) const {
  if (now > credit_at_) {
    credit_ns_ = std::min((double)card_.options_.slice_ns, credit_ns_ + params_.share * (double)(now - credit_at_));
    credit_at_ = now;
  }
  return credit_ns_;
}

bool CardClient::throttled(uint64_t now) const { return params_.limit && credit(now) < 0; }

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
  if (ns == 0) return;
  std::lock_guard<std::mutex> lock(card_.mu_);
  stats_.device_ns += ns;
  vtime_ += (double)ns / weight();
  if (params_.limit) {
    credit(now_ns());
    credit_ns_ -= (double)ns;
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
  std::lock_guard<std::mutex> lock(card_.mu_);
  if (card_.holder_ == this) card_.holder_ = nullptr;
  card_.grant_next(now_ns());
}

void CardClient::settle(CUcontext current) {
  close_slice(current);
  collect(true);
  std::lock_guard<std::mutex> lock(card_.mu_);
  if (card_.holder_ == this) card_.measured_ns_ = now_ns();
}

void CardClient::cancel() {
  std::lock_guard<std::mutex> lock(card_.mu_);
  cancelled_ = true;
  card_.cv_.notify_all();
}

bool CardClient::begin(CUcontext ctx, CUstream stream) {
  uint64_t now = now_ns();
  std::unique_lock<std::mutex> lock(card_.mu_);
  if (card_.holder_ == this) {
    bool yield = card_.must_yield(this, now);
    const bool expired = now - card_.grant_ns_ >= card_.options_.slice_ns;
    // A rival of its priority waits, and the slice is over, or the rival seems owed the card (the
    // holder may have it only because the rival was not ready): measure exactly what ran, then the
    // card goes to whoever has had less of its share. A holder still owed the card starts a new slice.
    if (!yield && card_.has_rival(this) && (expired || (!owed_checked_ && card_.rival_owed(this, card_.holder_vtime(now))))) {
      lock.unlock();
      settle(ctx);
      lock.lock();
      now = now_ns();
      yield = card_.rival_owed(this, vtime_) || card_.must_yield(this, now);
      owed_checked_ = !yield;  // until the next slice: the estimate overstates a holder with gaps
      if (!yield && expired) {
        card_.grant_ns_ = now;
        owed_checked_ = false;
      }
    }
    if (!yield) {
      lock.unlock();
      // Nobody is owed the card: measure what ran so far without draining the client's queue.
      if (now - slice_checkpoint_ns_ >= card_.options_.slice_ns) {
        close_slice(ctx);
        collect(false);
        slice_checkpoint_ns_ = now;
      }
      note_stream(ctx, stream);
      return true;
    }
    lock.unlock();
    release(ctx);
    lock.lock();
  }
  if (cancelled_) return false;
  waiting_ = true;
  // Back from idle: level with the clients competing, less a few slices it may still be owed. A
  // client away for a round trip (a synchronous one, between its reply and its next call) keeps
  // what its neighbours' work cost it meanwhile; a long idle banks no more than that.
  vtime_ = std::max(vtime_, card_.active_vtime_floor(this) - kOwedSlices * (double)card_.options_.slice_ns / weight());
  const uint64_t since = now;
  card_.grant_next(now);
  if (card_.holder_ != nullptr && card_.holder_ != this && card_.holder_->wanted_) {
    // The holder may be idle, keeping the card for a next call: it must look again now.
    std::function<void()> wake = card_.holder_->wanted_;
    lock.unlock();
    wake();
    lock.lock();
  }
  bool waited = false;
  while (card_.holder_ != this) {
    if (cancelled_) {
      waiting_ = false;
      card_.grant_next(now_ns());
      return false;
    }
    waited = true;
    if (!params_.paused && throttled(now)) {
      // A hard cap: wait until the share has earned the card back, even if the card is idle.
      double owed = -credit(now) / weight();
      card_.cv_.wait_for(lock, std::chrono::nanoseconds((int64_t)std::min(owed + 1000.0, 1e9)));
    } else {
      card_.cv_.wait(lock);
    }
    now = now_ns();
    card_.grant_next(now);
  }
  waiting_ = false;
  owed_checked_ = false;
  if (waited) {
    stats_.waits++;
    stats_.wait_ns += now - since;
  }
  lock.unlock();
  slice_checkpoint_ns_ = now;
  note_stream(ctx, stream);
  return true;
}

size_t CardClient::queue_depth() const {
  // Until an operation has been measured: the pace depth, a short queue.
  if (op_ns_ <= 0) return std::max<size_t>(1, card_.options_.pace_depth);
  // At least one: the card always has the client's next operation, whatever the session thread's
  // latency (operations longer than a slice then wait at most for one more).
  return (size_t)std::max(1.0, std::min((double)kMaxQueued, (double)card_.options_.slice_ns / op_ns_));
}

void CardClient::end(CUcontext ctx, CUstream stream) {
  // Work already queued on a GPU cannot be taken back: what a client queues is time its neighbours
  // will wait, whatever the scheduler decides. So while a client of its priority shares the card, a
  // client keeps at most a slice's worth queued, and a slice ends on time however deep its batches;
  // beside a client of higher priority, paceDepth operations. Alone at the top priority (alone on
  // the card, or beside lower classes only, which wait for it anyway), queueing deep costs nobody.
  const bool outranked = card_.max_priority_.load(std::memory_order_relaxed) > priority_.load(std::memory_order_relaxed);
  if (!outranked && card_.n_at_max_.load(std::memory_order_relaxed) < 2) return;
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
  bool rival;
  {
    std::lock_guard<std::mutex> lock(card_.mu_);
    if (card_.holder_ != this) return;
    rival = card_.has_rival(this);
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
  const SchedulerOptions &o = card_.options_;
  std::lock_guard<std::mutex> lock(card_.mu_);
  if (card_.holder_ != this) return 0;
  uint64_t now = now_ns(), held = now - card_.grant_ns_;
  for (const CardClient *w : card_.clients_) {
    if (w != this && w->waiting_ && w->params_.priority > params_.priority) return 0;
  }
  // A rival of its priority that is owed the card gets it now; if it is owed by every rival, it keeps
  // the card for the rest of the slice. Otherwise idle time is given away after a short grace
  // (work-conserving).
  if (card_.has_rival(this)) {
    if (card_.rival_owed(this, card_.holder_vtime(now))) return 0;
    return std::max(o.owed_grace_ns, held < o.slice_ns ? o.slice_ns - held : 0);
  }
  for (const CardClient *w : card_.clients_) {
    if (w != this && w->waiting_) return o.idle_grace_ns;  // of lower priority: idle time is theirs
  }
  // Nobody waits: keep the card (no drain, no hand-over) until someone does.
  return kKeep;
}

bool CardClient::holding() const {
  std::lock_guard<std::mutex> lock(card_.mu_);
  return card_.holder_ == this;
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
  std::lock_guard<std::mutex> lock(card_.mu_);
  params_ = params;
  priority_.store(params.priority, std::memory_order_relaxed);
  card_.refresh_max_priority();
  card_.grant_next(now_ns());
}

CardClientStats CardClient::stats() const {
  std::lock_guard<std::mutex> lock(card_.mu_);
  return stats_;
}

// ---- every card --------------------------------------------------------------------------------------

Scheduler::Scheduler(const Driver &driver, size_t cards) {
  for (size_t i = 0; i < cards; i++) cards_.push_back(std::make_unique<CardScheduler>(driver, options_));
}

}  // namespace gp
