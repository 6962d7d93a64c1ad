// The runner's side of the call ring (call_ring.h; docs/architecture.md): where the session's thread
// takes its next message and sends its replies once the client's ring is up. The ring holds the
// order of the client's messages: a message on the socket runs only when the ring's record says it is
// next, so that a large copy and the small calls around it run as the client sent them.
#include <chrono>

#include "runner.h"

namespace gp {

namespace {
// A sleep of the session's thread is cut this short, so that a bell the client stopped ringing (a
// job that died, or scribbled on its words) costs a look now and then, never a hang.
constexpr uint64_t kSleepSliceNs = 100'000'000;
}  // namespace

void Runner::take_up_ring() {
  auto ring = session.shared_memory.take_ring();
  if (ring == nullptr) return;
  ring_ = std::move(ring);
  ring_live_.store(ring_.get(), std::memory_order_release);
  // From here this thread waits on the ring's bell, not the socket: the reader takes what the socket
  // still carries (messages too large for a record) at once, not after its takeover delay.
  if (Connection *c = conn()) c->leave_to_reader();
}

void Runner::send_out(Connection *c, const char *data, size_t size) {
  if (ring_ == nullptr) {
    c->send(data, size);
    return;
  }
  bool bad = false;
  if (!ring_->send(c, data, size, stopping_, &bad) && bad && ring_failure_.empty())
    ring_failure_ = "the call ring's reply positions were changed by the client";
}

bool Runner::next_from_ring(Message &m) {
  CallRing &ring = *ring_;
  const uint64_t spin_start = gp_ring_now_ns(), spin_until = spin_start + ring.spin_ns();
  bool grace_known = false, keep = false, idled = false, spinning = true, look = true;
  uint64_t deadline = 0;
  gp_ring_spin spin{0, spin_start};
  uint32_t attention = attention_.load(std::memory_order_acquire);
  unsigned spins = 0;
  for (;;) {
    if (!look) {
      const uint32_t now_attention = attention_.load(std::memory_order_acquire);
      look = now_attention != attention || awaiting_socket_;
      attention = now_attention;
    }
    if (look) {
      look = false;
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
      if (awaiting_socket_ && !queue_.empty()) {
        m = queue_.front();
        queue_.pop_front();
        awaiting_socket_ = false;
        return true;
      }
      if (wake_) {
        wake_ = false;
        if (!idled) grace_known = false;  // a waiter wants a card this session holds: the grace is asked again
      }
    }
    if (!awaiting_socket_) {
      switch (ring.take(ring_buf_)) {
        case CallRing::Take::kMessage:
          ring.running();
          if (ring_buf_.empty()) continue;  // nothing to run
          m = Message{ring_buf_.data(), ring_buf_.size(), nullptr, true};
          return true;
        case CallRing::Take::kSocket:
          awaiting_socket_ = true;
          continue;
        case CallRing::Take::kBad:
          ring_failure_ = "the call ring holds a record that is not one (its positions or lengths were changed)";
          return false;
        case CallRing::Take::kEmpty:
          // Said at once, not when the spin ends: a client holding launches back for a batch while
          // this thread polls an empty ring would leave the card idle for the whole spin.
          ring.polling();
          break;
      }
    }
    // The clock is read every few turns of the spin: under a hypervisor a read can cost more than a turn.
    if (spinning && (++spins & 15) != 0) {
      gp_ring_relax();
      continue;
    }
    const uint64_t now = gp_ring_now_ns();
    if (spinning && (spinning = gp_ring_keep_spinning(now, spin_until, &spin))) {
      gp_ring_relax();
      continue;
    }
    look = true;  // about to decide on sleeping: everything is looked at again first
    if (!grace_known) {
      const uint64_t grace = session.idle_grace_ns();
      keep = grace == CardClient::kKeep;
      deadline = keep ? 0 : now + grace;
      grace_known = true;
    }
    if (!keep && !idled && now >= deadline) {
      session.sched_idle();  // the grace ran out (or there was none): the cards go back
      idled = true;
      continue;
    }
    uint64_t timeout = kSleepSliceNs;
    if (!keep && !idled) timeout = std::min(timeout, deadline - now);
    ring.sleep(timeout, [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return stop_ || wake_ || (awaiting_socket_ && !queue_.empty());
    });
  }
}

}  // namespace gp
