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
  events.turn = [weak] {
    auto r = weak.lock();
    if (!r) return;
    {
      std::lock_guard<std::mutex> lock(r->mu_);
      r->turn_ = true;
    }
    r->cv_.notify_one();
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
  if (Connection *c = conn()) c->interrupt();
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
  if (Connection *c = conn()) c->interrupt();
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
    // On a socket of its own (no call ring) a copy's reply goes from its out buffer to the socket.
    TailSink tail_sink;
    if (c != nullptr && ring_ == nullptr) {
      tail_sink = [c](Output &out, const void *tail, size_t size) {
        c->send(out.data(), out.size(), tail, size);
        out.clear();
      };
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
      }, &tail_sink);
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
    if (grace == CardClient::kKeep) {
      await(lock, nullptr, true);
      continue;  // a message, or a waiter: look again
    }
    if (grace > 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(grace);
      if (await(lock, &deadline, true)) continue;
    }
    if (stop_ || !queue_.empty()) break;
    lock.unlock();
    session.sched_idle();  // the grace ran out (or there was none): the cards go back
    lock.lock();
    await(lock, nullptr, false);
  }
  if (stop_) return false;
  m = queue_.front();
  queue_.pop_front();
  return true;
}

bool Runner::await(std::unique_lock<std::mutex> &lock, const std::chrono::steady_clock::time_point *deadline, bool wakes) {
  auto ready = [&] { return stop_ || !queue_.empty() || (wakes && wake_); };
  while (!ready()) {
    Connection *const c = conn();
    if (c != nullptr && !inline_over_) {
      int timeout_ms = -1;
      if (deadline != nullptr) {
        const auto left = *deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) return false;
        timeout_ms = (int)std::chrono::ceil<std::chrono::milliseconds>(left).count();
      }
      turn_ = false;
      lock.unlock();
      const Connection::Inline r = c->read_inline(timeout_ms, [this](char *data, size_t size) {
        std::lock_guard<std::mutex> queued(mu_);
        queue_.push_back(Message{data, size, nullptr});
      });
      lock.lock();
      if (r == Connection::Inline::kMessage) continue;
      if (r == Connection::Inline::kTimeout) return false;
      if (r == Connection::Inline::kInterrupted) continue;
      if (r == Connection::Inline::kEnded) inline_over_ = true;
      // kUnavailable: the reader hands over after its next message (which comes here) or at once (turn_).
    }
    // turn_ counts only where there is a socket to read: it must never make this a spin under mu_.
    auto woken = [&] { return ready() || (turn_ && c != nullptr && !inline_over_); };
    if (deadline == nullptr) {
      cv_.wait(lock, woken);
    } else if (!cv_.wait_until(lock, *deadline, woken)) {
      return false;
    }
  }
  return true;
}

}  // namespace gp
