// The session core without N-API: one session's message queue and the thread that runs it
// (docs/architecture.md). The daemon's addon (addon.cc) and the session worker process
// (native/worker) both drive it; what it hands back (replies, refusals, the end) goes to a plain
// C++ sink, which the addon forwards to JS and the worker to its control channel.
#ifndef GPUPOOL_ADDON_RUNNER_H
#define GPUPOOL_ADDON_RUNNER_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "call_ring.h"
#include "connection.h"
#include "session.h"
#include "wire.h"

namespace gp {

// A client message waiting for the session's thread: bytes its owner keeps alive until the token
// comes back in a delivery (the addon's JS Buffer), or bytes the connection's reader malloc'd
// (token null), freed once run.
struct Message {
  const char *data;
  size_t size;
  void *token;
  bool borrowed = false;  // the runner's own buffer (a message copied out of the call ring)
};

// What a message held counts against the session's backlog (docs/protocol.md, "Limits"): its bytes,
// and the buffer and reference that come with each, so that a flood of tiny messages counts too.
inline size_t backlog_cost(const Message &m) { return m.size + 256; }

// What the session's thread hands back: the replies to one message (and the tokens of the messages
// it is done with), or the end of the session.
struct Delivery {
  Output output;
  std::vector<void *> tokens;
  size_t released = 0;  // the backlog cost of the messages behind `tokens`
  bool has_refusal = false;
  Session::Refusal refusal{0, "", 0, Extent(0), CUDA_SUCCESS};
  bool closed = false;
  bool has_reason = false;
  std::string reason;
  int close_code = -1;  // the connection's end as the native reader saw it; -1: none attached
};

class Runner {
 public:
  // sink(d) takes the delivery (and must delete it); false: it could not (its owner is going away),
  // and the runner deletes it. finished() runs on the session's thread after the last delivery.
  struct Sink {
    std::function<bool(Delivery *)> deliver;
    std::function<void()> finished;
    // Optional: after each message, once its stats are published.
    std::function<void()> ran;
  };

  Runner(std::shared_ptr<const Driver> driver, std::vector<uint64_t> quota, std::shared_ptr<Scheduler> sched, SchedParams params)
      : session(std::move(driver), std::move(quota), std::move(sched), params) {}

  // Before start(): where deliveries go.
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  // The session's thread, named gp-session.
  void start();
  // Stops the thread (if running) and waits for it.
  void join();

  // The connection the session's replies go to from now on (once).
  void attach(std::shared_ptr<Connection> c) {
    session.shared_memory.set_source(c->passed_fds());
    conn_holder_ = std::move(c);
    conn_.store(conn_holder_.get(), std::memory_order_release);
  }
  Connection *conn() const { return conn_.load(std::memory_order_acquire); }
  const std::shared_ptr<Connection> &connection() const { return conn_holder_; }

  // The reader saw the connection end: the session stops as it would on the JS path's close.
  void connection_ended(uint16_t code) {
    end_code_ = code;
    request_stop();
  }

  // False once the session is stopping: the message is not taken.
  bool push(const Message &m);
  void request_stop();
  // From another session's thread: a waiter wants a card this session holds.
  void wake();

  // Whether the session's calls come through a call ring (for status).
  bool ring_active() const { return ring_live_.load(std::memory_order_acquire) != nullptr; }

  // The connection's Events that feed this runner (held weakly: the runner may be gone first).
  static Connection::Events events_for(const std::shared_ptr<Runner> &runner);

  Session session;

 private:
  void run();
  bool next(Message &m);
  // The call ring's side of next() and of sending replies (runner_ring.cc).
  bool next_from_ring(Message &m);
  void take_up_ring();
  void send_out(Connection *c, const char *data, size_t size);
  void notify_ring() {
    attention_.fetch_add(1, std::memory_order_release);
    if (CallRing *r = ring_live_.load(std::memory_order_acquire)) r->notify();
  }
  // Waits, lock held, for a message, the stop or (wakes) a wake, until deadline (nullptr: for ever);
  // false: the time ran out. With a native connection the session's thread reads its socket itself
  // meanwhile (Connection::read_inline): the message runs with no hand-off from the reader.
  bool await(std::unique_lock<std::mutex> &lock, const std::chrono::steady_clock::time_point *deadline, bool wakes);
  void post(Delivery *d) {
    if (!sink_.deliver || !sink_.deliver(d)) delete d;
  }

  Sink sink_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  bool stop_ = false;
  bool wake_ = false;
  bool turn_ = false;         // the connection's reader handed the socket back (Events::turn)
  bool inline_over_ = false;  // the connection ended under read_inline: no more reading here
  std::shared_ptr<Connection> conn_holder_;
  std::atomic<Connection *> conn_{nullptr};
  std::atomic<int> end_code_{-1};
  // The call ring, once the client's ring frame was answered (session thread; ring_live_ for others).
  std::shared_ptr<CallRing> ring_;
  std::atomic<CallRing *> ring_live_{nullptr};
  std::vector<char> ring_buf_;
  bool awaiting_socket_ = false;  // the ring said the next message is on the socket
  // Bumped (after mu_'s state changed) by whatever notify_ring() tells: a polling session takes mu_
  // only when it moved, not on every look at the ring.
  std::atomic<uint32_t> attention_{0};
  std::string ring_failure_;      // the client broke its ring: the session ends with this
  std::atomic<bool> stopping_{false};
};

}  // namespace gp

#endif
