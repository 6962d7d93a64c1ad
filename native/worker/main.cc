// gpupool-session-worker: one session of the daemon in a process of its own, or every session of one
// tenant (docs/architecture.md, config `compute.sessionProcess: "process"`, `compute.workerScope`). It links the session core (native/addon/runner.h and
// what it runs) without N-API: the daemon starts it with the control channel on fd 3 (control.h) and
// its own settings (INIT), ahead of need when its pool keeps it idle; a session's parameters come in
// START; then the daemon either hands it the client's socket (passed on fd 4, the bytes already read
// in ATTACH) or forwards the client's messages. The worker opens the driver
// itself, runs and answers every call, and reports stats (its heartbeat), refusals and its end. A
// worker that crashes, hangs or is killed ends only its own sessions: the daemon sees it exit.
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "../addon/connection.h"
#include "control.h"
#include "../addon/driver.h"
#include "../addon/dispatch.h"
#include "gp_ops.h"
#include "../addon/runner.h"
#include "../addon/scheduler.h"
#include "../addon/session.h"
#include "../addon/session_stats.h"
#include "../addon/shared_memory.h"

namespace {

using gp::worker::Channel;
using gp::worker::Msg;

constexpr int kControlFd = 3;
// The client's socket comes on this one (SCM_RIGHTS, one byte with it), announced by ATTACH: a worker
// started ahead of its session (the daemon's pool) cannot inherit it.
constexpr int kSocketPassFd = 4;

int take_socket() {
  gp::PassedFds fds(gp::SharedMemoryLimits{1, 1});  // any more than one are closed with it
  char byte;
  if (gp::recv_keeping_fds(kSocketPassFd, &byte, 1, MSG_DONTWAIT, &fds) != 1) return -1;
  return fds.take();
}

// A cJSON document freed with its scope.
struct Json {
  cJSON *root;
  explicit Json(cJSON *r) : root(r) {}
  ~Json() { cJSON_Delete(root); }
  Json(const Json &) = delete;
  Json &operator=(const Json &) = delete;
  double number(const char *key, double fallback) const {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
  }
  bool flag(const char *key, bool fallback) const {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
  }
  std::string text(const char *key) const {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) ? v->valuestring : "";
  }
};

std::string print(cJSON *o) {
  char *s = cJSON_PrintUnformatted(o);
  std::string out = s != nullptr ? s : "{}";
  cJSON_free(s);
  cJSON_Delete(o);
  return out;
}

gp::SchedParams read_params(const Json &j, gp::SchedParams p) {
  p.share = j.number("share", p.share);
  p.priority = (int)j.number("priority", p.priority);
  p.limit = j.flag("limit", p.limit);
  p.paused = j.flag("paused", p.paused);
  return p;
}

// Writes figures into a cJSON object (gp::write_session_stats, session_stats.h).
struct JsonWriter {
  cJSON *o;
  void number(const char *key, double v) { cJSON_AddNumberToObject(o, key, v); }
  void flag(const char *key, bool v) { cJSON_AddBoolToObject(o, key, v); }
  template <class T>
  void numbers(const char *key, const std::vector<T> &values) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (const T &v : values) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v));
  }
  template <class Fn>
  void objects(const char *key, size_t count, Fn fill) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (size_t i = 0; i < count; i++) {
      JsonWriter item{cJSON_CreateObject()};
      fill(item, i);
      cJSON_AddItemToArray(a, item.o);
    }
  }
};

std::string stats_json(const gp::Session &session, const gp::Connection *conn) {
  JsonWriter w{cJSON_CreateObject()};
  // The emulated driver's counters of this process (null on a real driver): the daemon adds every
  // worker's to its own in status, as it would show them with every session in its process.
  gp::Driver::EmuCounters counters;
  if (session.driver().emu_stats(&counters)) {
    JsonWriter emu{cJSON_AddObjectToObject(w.o, "emu")};
    gp::write_emu_counters(emu, counters);
  }
  gp::write_session_stats(w, session.stats());
  if (conn != nullptr) {
    JsonWriter c{cJSON_AddObjectToObject(w.o, "connection")};
    gp::write_connection_figures(c, conn->figures());
  }
  return print(w.o);
}

std::string refusal_json(const gp::Session::Refusal &r) {
  cJSON *o = cJSON_CreateObject();
  const gp::OpInfo *info = gp::op_info(r.op);
  cJSON_AddStringToObject(o, "op", info != nullptr ? info->name : "?");
  cJSON_AddStringToObject(o, "param", r.param);
  char ptr[32];
  snprintf(ptr, sizeof ptr, "0x%llx", (unsigned long long)r.ptr);
  cJSON_AddStringToObject(o, "ptr", ptr);
  if (r.extent.exact()) cJSON_AddNumberToObject(o, "bytes", (double)r.extent.bytes());
  else if (r.extent.overflowed()) cJSON_AddStringToObject(o, "bytes", "overflow");
  else cJSON_AddNullToObject(o, "bytes");
  cJSON_AddNumberToObject(o, "rc", (int)r.rc);
  return print(o);
}

std::string closed_json(const gp::Delivery &d) {
  cJSON *o = cJSON_CreateObject();
  if (d.has_reason) cJSON_AddStringToObject(o, "reason", d.reason.c_str());
  else cJSON_AddNullToObject(o, "reason");
  if (d.close_code >= 0) cJSON_AddNumberToObject(o, "code", d.close_code);
  else cJSON_AddNullToObject(o, "code");
  return print(o);
}

// The end of a session (or of the process, as session 0) that never ran: only its reason.
std::string failed_json(const std::string &reason) {
  gp::Delivery d;
  d.closed = true;
  d.has_reason = true;
  d.reason = reason;
  return closed_json(d);
}

// One session the worker runs: its core (the Runner) and what the control thread keeps for it.
struct Hosted {
  const uint32_t id;  // the daemon's number for it on the control channel
  std::shared_ptr<gp::Runner> runner;
  gp::SchedParams params;
  std::atomic<bool> finished{false};  // its end (CLOSED) went out: it is joined and dropped next
  explicit Hosted(uint32_t i) : id(i) {}
};

// The worker's whole life: parameters, driver, then its sessions (one, or a tenant's several:
// `compute.workerScope`), each started by START, run by a Runner of its own and ended on its own,
// until the daemon ends the channel.
class Worker {
 public:
  explicit Worker(Channel &channel) : channel_(channel) {}

  int run() {
    // INIT: the daemon's settings, for any session. A pooled worker gets it at its start and waits,
    // the driver open, for START: its session's own.
    Msg type;
    uint32_t id = 0;
    char *data = nullptr;
    size_t size = 0;
    if (!channel_.receive(&type, &id, &data, &size) || type != GP_WORKER_INIT) return fail("no parameters on the control channel");
    Json init(cJSON_ParseWithLength(data, size));
    std::free(data);
    if (init.root == nullptr) return fail("unreadable parameters");
    try {
      driver_ = gp::Driver::open(init.text("driver"));
    } catch (const std::exception &e) {
      return fail(std::string("driver: ") + e.what());
    }
    // The cards' state that the daemon shares with every session (fd 5); a worker started without one
    // schedules its own sessions alone.
    try {
      const int state_fd = (int)init.number("cardStateFd", -1);
      sched_ = state_fd >= 0 ? std::make_shared<gp::Scheduler>(*driver_, driver_->devices().size(), state_fd, (uint64_t)init.number("schedOwner", 0))
                             : std::make_shared<gp::Scheduler>(*driver_, driver_->devices().size());
    } catch (const std::exception &e) {
      return fail(std::string("card state: ") + e.what());
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(init.root, "scheduler");
    if (cJSON_IsObject(so)) {
      Json s(cJSON_Duplicate(so, true));
      gp::SchedulerOptions opts = sched_->options();
      opts.slice_ns = (uint64_t)(s.number("sliceUs", (double)opts.slice_ns / 1000) * 1000);
      opts.pace_depth = (unsigned)s.number("paceDepth", opts.pace_depth);
      opts.idle_grace_ns = (uint64_t)(s.number("idleGraceUs", (double)opts.idle_grace_ns / 1000) * 1000);
      sched_->configure(opts);
    }
    heartbeat_ms_ = (uint64_t)init.number("heartbeatMs", 250);
    channel_.send(GP_WORKER_READY, 0, "", 0);

    std::thread heartbeat;
    control_loop(heartbeat);
    // The daemon is gone, or done with every session: nobody is left to answer.
    for (const auto &h : take_all()) {
      if (!h->finished.load(std::memory_order_acquire)) {
        if (auto &c = h->runner->connection()) c->terminate();
      }
      h->runner->join();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
    return 0;
  }

 private:
  int fail(const std::string &reason) {
    channel_.send(GP_WORKER_CLOSED, 0, failed_json(reason));
    // As at a session's end (finished): gone before the daemon read the reason, the worker could lose
    // it to the daemon's next write.
    drain();
    return 1;
  }

  // Reads and drops the daemon's messages until it ends the channel.
  void drain() {
    Msg type;
    uint32_t id;
    char *data = nullptr;
    size_t size = 0;
    while (channel_.receive(&type, &id, &data, &size)) std::free(data);
  }

  // START: a session of the worker's, with its own parameters. The heartbeat starts with the first.
  void start(uint32_t id, const char *data, size_t size, std::thread &heartbeat) {
    if (id == 0 || find(id)) return;  // the process's number, or a session it runs already: not the daemon's
    Json start(cJSON_ParseWithLength(data, size));
    if (start.root == nullptr) {
      channel_.send(GP_WORKER_CLOSED, id, failed_json("unreadable session parameters"));
      return;
    }
    std::vector<uint64_t> quota;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(start.root, "quota");
    const cJSON *item;
    cJSON_ArrayForEach(item, q) quota.push_back((uint64_t)item->valuedouble);
    auto h = std::make_shared<Hosted>(id);
    h->params = read_params(start, h->params);
    h->runner = std::make_shared<gp::Runner>(driver_, std::move(quota), sched_, h->params);
    h->runner->session.set_wake([weak = std::weak_ptr<gp::Runner>(h->runner)] {
      if (auto r = weak.lock()) r->wake();
    });
    // The sink holds the session weakly: it is dropped only after its thread was joined.
    Hosted *raw = h.get();
    h->runner->set_sink({[this, raw](gp::Delivery *d) { return deliver(*raw, d); }, [this, raw] { finished(*raw); }, [this] { ran(); }});
    {
      std::lock_guard<std::mutex> lock(mu_);
      sessions_.push_back(h);
    }
    h->runner->start();
    if (!heartbeat.joinable()) {
      heartbeat = std::thread([this] {
        pthread_setname_np(pthread_self(), "gp-heartbeat");
        beat();
      });
    }
  }

  std::shared_ptr<Hosted> find(uint32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto &h : sessions_) {
      if (h->id == id) return h;
    }
    return nullptr;
  }

  std::vector<std::shared_ptr<Hosted>> take_all() {
    std::vector<std::shared_ptr<Hosted>> all;
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(sessions_);
    return all;
  }

  // Joins and drops the sessions whose end went out (their threads are done, or about to be).
  void reap() {
    std::vector<std::shared_ptr<Hosted>> ended;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto split = std::stable_partition(sessions_.begin(), sessions_.end(),
                                         [](const auto &h) { return !h->finished.load(std::memory_order_acquire); });
      ended.assign(std::make_move_iterator(split), std::make_move_iterator(sessions_.end()));
      sessions_.erase(split, sessions_.end());
    }
    for (const auto &h : ended) h->runner->join();
  }

  // On the session's thread.
  bool deliver(Hosted &h, gp::Delivery *d) {
    std::unique_ptr<gp::Delivery> owned(d);
    for (void *token : d->tokens) std::free(token);
    if (!d->output.empty()) channel_.send(GP_WORKER_OUTPUT, h.id, d->output.data(), d->output.size());
    if (d->released > 0) {
      uint64_t released = d->released;
      channel_.send(GP_WORKER_RELEASED, h.id, reinterpret_cast<const char *>(&released), sizeof released);
    }
    if (d->has_refusal) channel_.send(GP_WORKER_REFUSAL, h.id, refusal_json(d->refusal));
    if (d->closed) {
      // The last stats first: the daemon keeps them as the session's final figures.
      channel_.send(GP_WORKER_STATS, h.id, stats_json(h.runner->session, h.runner->conn()));
      channel_.send(GP_WORKER_CLOSED, h.id, closed_json(*d));
    }
    return true;
  }

  // On the session's thread, after the session's end (kClosed) went out. A worker stays until the
  // daemon ends the channel, having read that end: shutting the channel's read side here would make
  // the daemon's next write (a ping, a close) fail with EPIPE, and Node destroys a socket on a failed
  // write with the end still unread in it, so that a worker that finished cleanly was judged failed
  // (close 4006, "exited with status 0"). What the daemon still sends the session is dropped; the
  // heartbeat joins its thread and lets it go (a tenant's worker runs on for its other sessions).
  void finished(Hosted &h) {
    h.finished.store(true, std::memory_order_release);
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }

  // On the session's thread: the stats changed; the heartbeat sends them soon, not on every call.
  void ran() {
    if (changed_.exchange(true, std::memory_order_relaxed)) return;
    // Under the lock: the heartbeat may be between its look at the flag and its wait.
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }

  // Each session's stats on every beat, and soon after they change (at most every 100 ms, or the
  // beat's period if shorter): status stays close to the sessions while a busy one costs the daemon's
  // JS thread a few parses a second, whatever its call rate (every 10 ms, as before, came to 5 us of
  // that thread per call at 20,000 calls/s). Ended sessions are joined here, off the control thread.
  void beat() {
    const auto period = std::chrono::milliseconds(heartbeat_ms_);
    const auto gap = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(100), period);
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      asked_ = false;
      lock.unlock();
      reap();
      changed_.store(false, std::memory_order_relaxed);
      if (!send_stats()) return;
      lock.lock();
      // A reader of status (STATS_NOW) is answered at once, between beats as well.
      if (cv_.wait_for(lock, gap, [this] { return done_ || asked_; })) continue;
      cv_.wait_for(lock, period - gap, [this] {
        return done_ || asked_ || changed_.load(std::memory_order_relaxed) ||
               std::any_of(sessions_.begin(), sessions_.end(), [](const auto &h) { return h->finished.load(std::memory_order_acquire); });
      });
    }
  }

  bool send_stats() {
    std::vector<std::shared_ptr<Hosted>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      live = sessions_;
    }
    for (const auto &h : live) {
      if (h->finished.load(std::memory_order_acquire)) continue;
      if (!channel_.send(GP_WORKER_STATS, h->id, stats_json(h->runner->session, h->runner->conn()))) return false;
    }
    return true;
  }

  // On the control thread: status is being read; the heartbeat sends the stats now.
  void stats_now() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      asked_ = true;
    }
    cv_.notify_all();
  }

  void control_loop(std::thread &heartbeat) {
    for (;;) {
      Msg type;
      uint32_t id = 0;
      char *data = nullptr;
      size_t size = 0;
      if (!channel_.receive(&type, &id, &data, &size)) return;
      if (type == GP_WORKER_START) {
        start(id, data, size, heartbeat);
        std::free(data);
        continue;
      }
      if (type == GP_WORKER_STATS_NOW) {
        stats_now();
        std::free(data);
        continue;
      }
      const auto h = find(id);
      if (!h || h->finished.load(std::memory_order_acquire)) {
        std::free(data);
        continue;
      }
      if (type == GP_WORKER_SUBMIT) {
        // The buffer is the message's token: freed once run (deliver).
        if (data == nullptr || !h->runner->push(gp::Message{data, size, data})) std::free(data);
        continue;
      }
      handle(*h, type, data, size);
      std::free(data);
    }
  }

  void handle(Hosted &h, Msg type, const char *data, size_t size) {
    const auto &runner = h.runner;
    const auto &c = runner->connection();
    switch (type) {
      case GP_WORKER_ATTACH: {
        const size_t json_end = data != nullptr ? strnlen(data, size) : 0;
        Json j(cJSON_ParseWithLength(data, json_end));
        gp::Connection::Limits limits;
        limits.max_message = (uint64_t)j.number("maxMessageBytes", 0);
        limits.max_queued = (size_t)j.number("maxQueuedBytes", 0);
        limits.shared_memory.max_bytes = (uint64_t)j.number("sharedMemoryBytes", 0);
        limits.shared_memory.max_regions = (uint32_t)j.number("sharedMemoryRegions", 0);
        limits.shared_memory.call_ring_bytes = (uint64_t)j.number("callRingBytes", 0);
        limits.shared_memory.call_ring_spin_ns = (uint64_t)j.number("callRingSpinUs", 0) * 1000;
        std::string prefix = json_end < size ? std::string(data + json_end + 1, size - json_end - 1) : std::string();
        // The daemon passed the socket on fd 4 before it wrote ATTACH (one socket per ATTACH, in the
        // order of the ATTACHes): it is there to take, no wait.
        const int fd = take_socket();
        if (fd < 0) {
          std::fprintf(stderr, "gpupool-session-worker: attach: no socket passed on fd %d\n", kSocketPassFd);
          runner->request_stop();
          break;
        }
        try {
          auto conn = gp::Connection::open(fd, limits, std::move(prefix), gp::Runner::events_for(runner));
          runner->attach(conn);
          conn->start();
        } catch (const std::system_error &e) {
          std::fprintf(stderr, "gpupool-session-worker: attach: %s\n", e.what());
          runner->request_stop();
        }
        ::close(fd);  // the connection holds a duplicate
        break;
      }
      case GP_WORKER_CLOSE:
        runner->request_stop();
        break;
      case GP_WORKER_CLOSE_CONNECTION: {
        Json j(cJSON_ParseWithLength(data, size));
        if (c) c->close((uint16_t)j.number("code", 1000), j.text("reason"));
        else runner->request_stop();
        break;
      }
      case GP_WORKER_TERMINATE:
        if (c) c->terminate();
        runner->request_stop();
        break;
      case GP_WORKER_PING:
        if (c) c->ping();
        break;
      case GP_WORKER_SCHEDULE: {
        Json j(cJSON_ParseWithLength(data, size));
        h.params = read_params(j, h.params);
        runner->session.set_sched_params(h.params);
        break;
      }
      case GP_WORKER_POISON: {
        Json j(cJSON_ParseWithLength(data, size));
        runner->session.poison((int)j.number("ordinal", -1), (CUresult)j.number("code", 0));
        break;
      }
      default:
        break;  // the daemon's own messages: an unknown one is a newer daemon's, ignored
    }
  }

  Channel &channel_;
  std::shared_ptr<gp::Driver> driver_;
  std::shared_ptr<gp::Scheduler> sched_;
  uint64_t heartbeat_ms_ = 250;
  std::atomic<bool> changed_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Hosted>> sessions_;  // under mu_; the control thread adds, the heartbeat reaps
  bool done_ = false;
  bool asked_ = false;  // STATS_NOW: a reader of status waits for the stats (under mu_)
};

}  // namespace

int main() {
  // A write to a client that went away is an error return, not the worker's death.
  signal(SIGPIPE, SIG_IGN);
  // A worker dies with its daemon, at once. Noticing the control channel's end is not enough: a job on
  // the call ring (shared memory) reaches this process without the daemon, and calls it made in the
  // moment before that notice would succeed against a daemon already gone. The kernel queues this
  // signal before it tells anyone the daemon exited. A daemon that died before this line closed the
  // channel, which the worker reads as its end before any session could start.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#ifdef __GLIBC__
  // As in the daemon (addon.cc): large copy buffers are mapped on their own and returned when freed.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  Channel channel(kControlFd);
  return Worker(channel).run();
}
