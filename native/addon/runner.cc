#include "runner.h"

#include <pthread.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdlib>
#include <new>

#include "dispatch.h"
#include "wire.h"

namespace gp {

namespace {
// A delivery goes out once the messages it releases hold this much, even in a steady stream.
constexpr size_t kReleaseBytes = size_t(8) << 20;
// Replies go out once they hold this much, even in the middle of a message: one message of many
// device-to-host copies (a batch of deferred frames) would otherwise gather all their data in one
// reply of any size, held whole, written as one WebSocket message (issue 12, item 0).
constexpr size_t kReplyBytes = size_t(16) << 20;
constexpr unsigned long kTimerSlackNs = 1000;
}  // namespace

void Runner::start() {
  // A waiter may call it while this session is being torn down: the owner's weak pointer keeps that safe.
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "gp-session");
    // Timed sleeps on this thread end when asked, not up to the default 50 us later: a session waits
    // for its stream after a staged copy (shared_memory.cc) and for its grace, and a job waits on it.
    prctl(PR_SET_TIMERSLACK, kTimerSlackNs, 0, 0, 0);
    run();
  });
}

void Runner::join() {
  request_stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

Connection::Events Runner::events_for(const std::shared_ptr<Runner> &runner) {
  std::weak_ptr<Runner> weak = runner;
  Connection::Events events;
  events.message = [weak](char *data, size_t size) {
    auto r = weak.lock();
    return r && r->push(Message{data, size, nullptr});
  };
  events.ended = [weak](uint16_t code) {
    if (auto r = weak.lock()) r->connection_ended(code);
  };
  return events;
}

bool Runner::push(const Message &m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    queue_.push_back(m);
  }
  cv_.notify_one();
  notify_ring();
  return true;
}

void Runner::request_stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stopping_ = true;
  cv_.notify_one();
  notify_ring();
  // A call waiting for a card (behind other sessions, or held off by a schedule window) gives up.
  session.cancel_waits();
}

void Runner::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
  notify_ring();
}

void Runner::run() {
  bool failed = false;
  std::string reason;
  // Input buffers are released by their owner, so each delivery carries the tokens of the messages it
  // covers. A delivery goes out when it has replies, or when the queue has run dry: a burst of
  // fire-and-forget messages costs one hop to the owner, not one per message.
  auto *d = new Delivery();
  for (;;) {
    Message m;
    if (!next(m)) {
      if (!ring_failure_.empty()) {
        failed = true;
        reason = ring_failure_;
      }
      break;
    }
    Connection *const c = conn();
    if (m.token != nullptr) {
      d->tokens.push_back(m.token);
      d->released += backlog_cost(m);
    }
    try {
      process_message(session, m.data, m.size, d->output, [this, &d, c] {
        if (d->output.size() < kReplyBytes) return;
        if (c != nullptr) {
          send_out(c, d->output.data(), d->output.size());
          d->output.clear();
          return;
        }
        auto *part = new Delivery();
        part->output.swap(d->output);  // the writer keeps appending to d->output, now empty
        post(part);
      });
    } catch (const ProtocolError &e) {
      failed = true;
      reason = e.what();
    } catch (const std::bad_alloc &) {
      failed = true;
      reason = "out of host memory";
    } catch (const std::exception &e) {
      failed = true;
      reason = std::string("internal error: ") + e.what();
    }
    if (failed) d->output.clear();  // the connection closes with the reason instead
    if (m.borrowed) {
      // The ring's buffer: nothing to free.
    } else if (m.token == nullptr) {
      if (c != nullptr) {
        c->recycle(const_cast<char *>(m.data));
        c->release(Connection::cost(m.size));
      } else {
        std::free(const_cast<char *>(m.data));
      }
    }
    // On a native connection the replies go out from here: the owner hears only of refusals and the end.
    if (c != nullptr && !d->output.empty()) {
      send_out(c, d->output.data(), d->output.size());
      d->output.clear();
    }
    if (c != nullptr && !failed && ring_ == nullptr) take_up_ring();
    if (!failed && !ring_failure_.empty()) {
      failed = true;
      reason = ring_failure_;
    }
    if (session.take_refusal(&d->refusal)) d->has_refusal = true;
    session.publish();
    if (sink_.ran) sink_.ran();
    bool idle;
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle = queue_.empty();
    }
    if (failed || (idle && !d->tokens.empty()) || !d->output.empty() || d->has_refusal || d->released >= kReleaseBytes) {
      post(d);
      d = new Delivery();
    }
    if (failed) break;
  }
  if (!d->tokens.empty()) post(d);
  else delete d;
  session.teardown();
  d = new Delivery();
  d->closed = true;
  d->has_reason = failed;
  d->reason = reason;
  d->close_code = end_code_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (const Message &m : queue_) {
      if (m.token == nullptr) {
        std::free(const_cast<char *>(m.data));
        continue;
      }
      d->tokens.push_back(m.token);
      d->released += backlog_cost(m);
    }
    queue_.clear();
  }
  post(d);
  if (sink_.finished) sink_.finished();
}

// The next message, or false once stopping. While idle and holding a card, the session keeps it for
// its next message as the scheduler says (until a waiter wakes it, for a while, or not at all), then
// hands it back. The scheduler's calls may wait for the card's work: they run outside mu_, so that
// push() on the owner's thread never waits for them.
bool Runner::next(Message &m) {
  if (ring_ != nullptr) return next_from_ring(m);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_ && queue_.empty()) {
    wake_ = false;
    lock.unlock();
    const uint64_t grace = session.idle_grace_ns();
    lock.lock();
    auto ready = [this] { return stop_ || !queue_.empty() || wake_; };
    if (grace == CardClient::kKeep) {
      cv_.wait(lock, ready);
      continue;  // a message, or a waiter: look again
    }
    if (grace > 0 && cv_.wait_for(lock, std::chrono::nanoseconds(grace), ready)) continue;
    if (stop_ || !queue_.empty()) break;
    lock.unlock();
    session.sched_idle();  // the grace ran out (or there was none): the cards go back
    lock.lock();
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
  }
  if (stop_) return false;
  m = queue_.front();
  queue_.pop_front();
  return true;
}

}  // namespace gp
