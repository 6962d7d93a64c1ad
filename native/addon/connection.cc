#include "connection.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "ws_frame.h"

namespace gp {

namespace {

// The reader's buffer: many small frames per read. A payload at least this large is read straight
// into its message instead, so that a copy's bytes are not moved twice.
constexpr size_t kInputBytes = size_t(64) << 10;
// After a close frame is sent, the peer gets this long to answer it and hang up before the socket is
// cut (unread bytes left on a closed socket would make the kernel reset the connection, losing the
// close frame on the way out).
constexpr int kCloseGraceMs = 2000;
// A payload is read off the socket this much at a time, so that its unmasking finds the bytes the
// kernel just wrote still in the cache.
constexpr size_t kReadChunk = size_t(256) << 10;
// Message buffers kept for reuse: a copy's slices (16 MiB) each reuse one of these rather than
// fault in a fresh mapping, page by page, on the reader thread. At most kSpares, all from messages of
// at least kSpareMin bytes (smaller ones come from malloc's heap cheaply).
constexpr size_t kSpareMin = kInputBytes;
constexpr size_t kSpares = 4;
// The reader takes the socket from a session's thread busy this long in a call: pings are answered,
// closes noticed and the back-pressure kept during a long kernel.
constexpr uint64_t kTakeoverMs = 5;
// ... and watches for that (a tick each kTakeoverMs) while the session ran a call this recently;
// after that it sleeps until the session next leaves its read.
constexpr uint64_t kWatchMs = 1000;
// A message this large hands the socket to the reader while it runs: a copy's next slice is read
// ahead meanwhile.
constexpr size_t kReadAheadBytes = size_t(1) << 20;

}  // namespace

std::shared_ptr<Connection> Connection::open(int fd, Limits limits, std::string prefix, Events events) {
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) throw std::system_error(errno, std::generic_category(), "dup");
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(own, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    const int e = errno != 0 ? errno : ENOTSOCK;
    ::close(own);
    throw std::system_error(e, std::generic_category(), "not a stream socket");
  }
  // O_NONBLOCK belongs to the open file, which Node's closed descriptor shared and libuv may have
  // left blocking: every recv and send here says MSG_DONTWAIT itself instead, so that the reader
  // always comes back to poll() and sends the pings and closes other threads queue.
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    const int e = errno;
    ::close(own);
    throw std::system_error(e, std::generic_category(), "eventfd");
  }
  return std::shared_ptr<Connection>(new Connection(own, wake, limits, std::move(prefix), std::move(events)));
}

void Connection::start() {
  // The reader keeps the connection alive until the close handshake is over, after the session.
  std::thread([c = shared_from_this()] { c->read_loop(); }).detach();
}

Connection::Connection(int fd, int wake_fd, Limits limits, std::string prefix, Events events)
    : fd_(fd), wake_fd_(wake_fd), limits_(limits), passed_fds_(std::make_shared<PassedFds>(limits.shared_memory)), events_(std::move(events)), in_(kInputBytes + prefix.size()), last_read_ms_(now_ms()) {
  std::memcpy(in_.data(), prefix.data(), prefix.size());
  end_ = prefix.size();
}

Connection::~Connection() {
  ::close(fd_);
  ::close(wake_fd_);
  for (char *p : spares_) std::free(p);
}

// Faults in p[0..n) before the socket is read into it. A recv that faults page by page holds the
// socket's lock meanwhile; on loopback the sender then overruns the socket's backlog, the kernel
// drops segments, and each drop costs a retransmission timeout (200 ms): the cliff copies of 1 MiB
// and more fell off (issue 13). MADV_POPULATE_WRITE does it in one call; where the kernel lacks it,
// a write to each page.
static void prefault(char *p, size_t n) {
  const uintptr_t page = 4096;
#ifdef MADV_POPULATE_WRITE
  const uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)p + n) & ~(page - 1);
  if (end > start && madvise(reinterpret_cast<void *>(start), end - start, MADV_POPULATE_WRITE) == 0) return;
#endif
  for (size_t i = 0; i < n; i += page) p[i] = 0;
}

// A kept buffer of at least `need` bytes (the smallest such), or nullptr.
char *Connection::take_spare(size_t need, size_t &capacity) {
  std::lock_guard<std::mutex> lock(spare_mu_);
  size_t best = spares_.size();
  for (size_t i = 0; i < spares_.size(); i++) {
    const size_t have = malloc_usable_size(spares_[i]);
    if (have >= need && (best == spares_.size() || have < malloc_usable_size(spares_[best]))) best = i;
  }
  if (best == spares_.size()) return nullptr;
  char *p = spares_[best];
  spares_.erase(spares_.begin() + (std::ptrdiff_t)best);
  capacity = malloc_usable_size(p);
  return p;
}

void Connection::recycle(char *data) {
  if (data != nullptr && malloc_usable_size(data) >= kSpareMin) {
    std::lock_guard<std::mutex> lock(spare_mu_);
    if (spares_.size() < kSpares) {
      spares_.push_back(data);
      return;
    }
    // Full: the smallest goes, so that what is kept fits the largest messages seen.
    auto smallest = spares_.begin();
    for (auto it = spares_.begin(); it != spares_.end(); ++it)
      if (malloc_usable_size(*it) < malloc_usable_size(*smallest)) smallest = it;
    if (malloc_usable_size(*smallest) < malloc_usable_size(data)) std::swap(*smallest, data);
  }
  std::free(data);
}

uint64_t Connection::now_ms() {
  return (uint64_t)std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- reading -----------------------------------------------------------------------------------

void Connection::read_loop() {
  pthread_setname_np(pthread_self(), "gp-conn-read");
  while (await_turn()) {
    const Await a = await_bytes(-1, want_);
    if (a == Await::kStop) {
      hand_to_session();
      continue;
    }
    if (a == Await::kOver) break;
    char *data = nullptr;
    size_t size = 0;
    if (!read_message(data, size)) break;
    if (!deliver(data, size)) std::free(data);
    if (want_) hand_to_session();
  }
  drain();
  // The session stops taking messages at `ended`; a reader that ran out first says so too.
  end(ws::kAbnormal);
  events_ = Events();  // what they hold (the session) is let go on this thread, not at the last reference
}

// Parked while the session's thread holds the socket; true once the reader holds it, false once the
// connection is over (the session's read met the end). The reader takes the socket from a session
// busy in a call for kTakeoverMs, never from one reading.
bool Connection::await_turn() {
  std::unique_lock<std::mutex> lock(own_mu_);
  for (;;) {
    if (owner_ == Owner::kReader) return !over_;
    const uint64_t now = now_ms(), busy = now - std::min(now, busy_since_ms_);
    if (!session_reading_ && (terminated_ || broken_ || close_queued_ || busy >= kTakeoverMs)) {
      owner_ = Owner::kReader;
      continue;
    }
    if (busy < kWatchMs) {
      own_cv_.wait_for(lock, std::chrono::milliseconds(kTakeoverMs));
    } else {
      reader_untimed_ = true;
      own_cv_.wait(lock);
      reader_untimed_ = false;
    }
  }
}

// The session asked for the socket: it is its own from the next message on.
void Connection::hand_to_session() {
  {
    std::lock_guard<std::mutex> lock(own_mu_);
    want_ = false;
    if (over_) return;
    owner_ = Owner::kSession;
    busy_since_ms_ = now_ms();
  }
  if (events_.turn) events_.turn();
}

void Connection::leave_to_reader() {
  {
    std::lock_guard<std::mutex> lock(own_mu_);
    want_ = false;
    if (!over_) owner_ = Owner::kReader;
  }
  own_cv_.notify_all();
}

void Connection::interrupt() {
  interrupted_ = true;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

// The message is queued (`take`) while this thread still counts as reading: until then the reader
// may not take the socket over (a busy session's takeover, a large message's read-ahead), or what it
// reads next would be queued ahead of this message and run first (a kernel before the copy in front
// of it on its stream: the loss that had this reverted once).
Connection::Inline Connection::read_inline(int timeout_ms, const Take &take) {
  {
    std::lock_guard<std::mutex> lock(own_mu_);
    if (over_) return Inline::kEnded;
    if (owner_ == Owner::kReader) {
      if (!want_.exchange(true)) {
        const uint64_t one = 1;
        (void)!write(wake_fd_, &one, sizeof one);  // out of its poll, if it waits there
      }
      return Inline::kUnavailable;
    }
    session_reading_ = true;
  }
  Inline r = Inline::kTimeout;
  bool give = false;
  char *data = nullptr;
  size_t size = 0;
  switch (await_bytes(timeout_ms, interrupted_)) {
    case Await::kBytes:
      if (read_message(data, size)) {
        r = Inline::kMessage;
        {
          std::lock_guard<std::mutex> lock(backlog_mu_);
          queued_ += cost(size);  // what the session's release() takes back
        }
        take(data, size);
      } else {
        r = Inline::kEnded;
      }
      break;
    case Await::kStop:
      interrupted_ = false;
      r = Inline::kInterrupted;
      break;
    case Await::kTimeout:
      break;
    case Await::kClosing:  // a close is on its way: the reader reads until its answer
      give = true;
      r = Inline::kUnavailable;
      break;
    case Await::kOver:
      r = Inline::kEnded;
      break;
  }
  bool notify;
  {
    std::lock_guard<std::mutex> lock(own_mu_);
    session_reading_ = false;
    busy_since_ms_ = now_ms();
    if (r == Inline::kEnded) over_ = true;
    if (give || r == Inline::kEnded || (r == Inline::kMessage && size >= kReadAheadBytes)) owner_ = Owner::kReader;
    notify = owner_ == Owner::kReader || reader_untimed_;
  }
  if (notify) own_cv_.notify_one();
  return r;
}

// At a message boundary, on the thread holding the socket: waits until bytes come (kBytes), `stop`
// is set (kStop), the timeout passes (timeout_ms >= 0), a close is queued (kClosing) or the
// connection is cut (kOver). Meanwhile it sends what other threads queued (pings, closes).
Connection::Await Connection::await_bytes(int timeout_ms, std::atomic<bool> &stop) {
  const uint64_t deadline = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (terminated_ || broken_) return Await::kOver;
    if (begin_ < end_) return Await::kBytes;
    flush_control();
    if (stop) return Await::kStop;
    if (close_queued_) return Await::kClosing;
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const uint64_t now = now_ms();
      if (now >= deadline) return Await::kTimeout;
      wait_ms = (int)(deadline - now);
    }
    const Poll p = poll_socket(wait_ms);
    if (p == Poll::kError) return Await::kOver;
    if (p == Poll::kReadable) return Await::kBytes;
  }
}

// One wait for the socket or the wake descriptor (drained when it fired).
Connection::Poll Connection::poll_socket(int timeout_ms) {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int n = poll(fds, 2, timeout_ms);
  if (n < 0) return errno == EINTR ? Poll::kWoken : Poll::kError;
  if (n == 0) return Poll::kTimeout;
  if (fds[1].revents & POLLIN) {
    uint64_t count;
    (void)!read(wake_fd_, &count, sizeof count);
  }
  return (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) ? Poll::kReadable : Poll::kWoken;
}

// Waits until the socket has bytes (true) or the connection is over (false); meanwhile it sends what
// other threads queued (pings, closes).
// Once a close is queued, the peer has kCloseGraceMs from then to answer and hang up.
bool Connection::wait_readable() {
  for (;;) {
    if (terminated_ || broken_) return false;
    flush_control();
    int timeout_ms = -1;
    if (close_queued_) {
      const uint64_t now = now_ms(), deadline = close_deadline_ms_;
      if (now >= deadline) return false;
      timeout_ms = (int)(deadline - now);
    }
    const Poll p = poll_socket(timeout_ms);
    if (p == Poll::kError || p == Poll::kTimeout) return false;  // the grace ran out
    if (p == Poll::kReadable) return true;
  }
}

// More bytes into the input buffer; false at the end of the stream or an error.
bool Connection::fill() {
  if (begin_ > 0) {
    std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  for (;;) {
    const ssize_t n = recv_keeping_fds(fd_, in_.data() + end_, in_.size() - end_, MSG_DONTWAIT, passed_fds_.get());
    if (n > 0) {
      end_ += (size_t)n;
      bytes_in_ += (uint64_t)n;
      last_read_ms_ = now_ms();
      flush_control();
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (!wait_readable()) return false;
  }
}

// The payload into dest, unmasked: what the buffer holds first, then large remainders straight off
// the socket into dest, small ones through the buffer.
bool Connection::read_payload(uint8_t *dest, uint64_t length, const uint8_t mask[4]) {
  uint64_t got = 0;
  while (got < length) {
    if (begin_ < end_) {
      const size_t take = (size_t)std::min<uint64_t>(end_ - begin_, length - got);
      std::memcpy(dest + got, in_.data() + begin_, take);
      ws::unmask(dest + got, take, mask, got);
      begin_ += take;
      got += take;
      continue;
    }
    begin_ = end_ = 0;
    if (length - got < kInputBytes) {
      if (!fill()) return false;
      continue;
    }
    const ssize_t n = recv_keeping_fds(fd_, dest + got, (size_t)std::min<uint64_t>(length - got, kReadChunk), MSG_DONTWAIT, passed_fds_.get());
    if (n > 0) {
      ws::unmask(dest + got, (size_t)n, mask, got);
      got += (uint64_t)n;
      bytes_in_ += (uint64_t)n;
      last_read_ms_ = now_ms();
      // A peer that keeps the socket readable never sends this thread to poll(): the pings and closes
      // other threads queued go out between reads as well.
      flush_control();
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (!wait_readable()) return false;
  }
  return true;
}

// The next whole message (malloc'd, never empty), on the thread holding the socket; false: the
// connection is over (a close, an error: end() was said, or the stream ended).
bool Connection::read_message(char *&data, size_t &size) {
  char *message = nullptr;  // an open fragmented message, malloc'd
  size_t message_len = 0, message_cap = 0;
  bool open = false;
  struct Free {
    char *&p;
    ~Free() { std::free(p); }
  } free_message{message};
  for (;;) {
    // After a close this side sent, frames are still read (and data dropped) until the peer's answer,
    // whose code is the connection's end; wait_readable() gives it kCloseGraceMs.
    if (terminated_ || broken_) return false;
    ws::FrameHead head;
    ws::FrameError err;
    const ws::Parse parsed = ws::parse_head(in_.data() + begin_, end_ - begin_, limits_.max_message - message_len, head, err);
    if (parsed == ws::Parse::kNeedMore) {
      if (!fill()) return false;
      continue;
    }
    if (parsed == ws::Parse::kError) return fail(err.code, err.reason), false;
    begin_ += head.head_bytes;
    if (head.opcode & 0x8) {
      uint8_t payload[125];
      if (!read_payload(payload, head.length, head.mask)) return false;
      if (head.opcode == ws::kPing) {
        if (!close_queued_) queue(ws::kPong, std::string(reinterpret_cast<char *>(payload), (size_t)head.length), false);
        flush_control();
      } else if (head.opcode == ws::kClose) {
        uint16_t code;
        std::string reason;
        if (!ws::parse_close(payload, (size_t)head.length, code, reason, err)) return fail(err.code, err.reason), false;
        if (close_queued_) {
          end(code);  // the answer to this side's close
          return false;
        }
        // Answered with the same status (RFC 6455 5.5.1), then the session ends.
        std::string echo;
        if (code != ws::kNoStatus) echo = std::string{char(code >> 8), char(code & 0xff)} + reason;
        queue(ws::kClose, echo, true);
        flush_control();
        end(code);
        return false;
      }
      continue;  // a pong: its bytes were the sign of life
    }
    if (head.opcode == ws::kContinuation ? !open : open) return fail(ws::kProtocolError, "invalid opcode " + std::to_string(head.opcode)), false;
    const size_t need = (size_t)(message_len + head.length);
    if (message == nullptr && need >= kSpareMin) message = take_spare(need, message_cap);
    if (message == nullptr || need > message_cap) {
      // Never a realloc to a smaller size: glibc would hand the rest of a kept buffer back.
      char *grown = static_cast<char *>(std::realloc(message, need + (need == 0)));
      if (grown == nullptr) return fail(ws::kTooBig, "out of memory for the message"), false;
      message = grown;
      message_cap = need + (need == 0);
      if (head.length >= kSpareMin) prefault(message + message_len, (size_t)head.length);
    }
    if (!read_payload(reinterpret_cast<uint8_t *>(message) + message_len, head.length, head.mask)) return false;
    message_len += (size_t)head.length;
    open = !head.fin;
    if (open) continue;
    char *whole = message;
    const size_t whole_len = message_len;
    message = nullptr;
    message_len = 0;
    message_cap = 0;
    // Once the session ends (a protocol error, a close) nothing more runs; the reader goes on reading
    // until the close it is told to send has had its answer. An empty message has nothing to run.
    if (close_queued_ || whole_len == 0) {
      std::free(whole);
      continue;
    }
    data = whole;
    size = whole_len;
    return true;
  }
}

// Hands a message to the session, then waits while the session's backlog is over its bound (the
// client is not read meanwhile: TCP slows it down). False: the session takes no more (the caller frees it).
bool Connection::deliver(char *data, size_t size) {
  if (size == 0) {
    std::free(data);  // nothing to run
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(backlog_mu_);
    queued_ += cost(size);
  }
  if (!events_.message || !events_.message(data, size)) {
    std::lock_guard<std::mutex> lock(backlog_mu_);
    queued_ -= cost(size);
    return false;
  }
  std::unique_lock<std::mutex> lock(backlog_mu_);
  if (limits_.max_queued == 0 || queued_ <= limits_.max_queued) return true;
  paused_ = true;
  pauses_++;
  for (;;) {
    backlog_cv_.wait(lock, [this] { return queued_ <= limits_.max_queued / 2 || terminated_ || broken_ || kicked_; });
    if (terminated_ || broken_) break;  // the read loop stops at its next turn
    if (queued_ <= limits_.max_queued / 2) break;
    kicked_ = false;
    lock.unlock();
    flush_control();  // a ping or close asked for meanwhile
    lock.lock();
  }
  paused_ = false;
  return true;
}

void Connection::release(size_t cost) {
  {
    std::lock_guard<std::mutex> lock(backlog_mu_);
    queued_ -= cost < queued_ ? cost : queued_;
  }
  backlog_cv_.notify_one();
}

// After a close frame went out (or the peer's came in): the peer's remaining bytes are read and
// dropped until it hangs up, for at most the grace.
void Connection::drain() {
  // Without a close on its way the stream ended or broke: there is nobody to say goodbye to.
  if (terminated_ || broken_ || !close_queued_) return;
  for (;;) {
    if (!wait_readable()) return;
    char sink[4096];
    const ssize_t n = recv_keeping_fds(fd_, sink, sizeof sink, MSG_DONTWAIT, nullptr);
    if (n == 0) return;
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return;
  }
}

void Connection::fail(uint16_t code, const std::string &reason) {
  std::string payload{char(code >> 8), char(code & 0xff)};
  payload += reason.substr(0, 123);
  queue(ws::kClose, payload, true);
  flush_control();
  end(code);
}

void Connection::end(uint16_t code) {
  if (ended_) return;
  ended_ = true;
  if (events_.ended) events_.ended(code);
}

// ---- writing -----------------------------------------------------------------------------------

void Connection::queue(uint8_t opcode, const std::string &payload, bool close) {
  uint8_t head[10];
  const size_t n = ws::encode_head(head, opcode, payload.size());
  std::string frame(reinterpret_cast<char *>(head), n);
  frame += payload;
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    control_.push_back({std::move(frame), close});
    has_control_ = true;
  }
  if (close) {
    uint64_t unset = 0;
    close_deadline_ms_.compare_exchange_strong(unset, now_ms() + kCloseGraceMs);
    close_queued_ = true;
  }
}

void Connection::wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  {
    std::lock_guard<std::mutex> lock(backlog_mu_);
    kicked_ = true;
  }
  backlog_cv_.notify_all();
  own_cv_.notify_all();  // a parked reader takes the socket for a close or a cut, once the session is out of it
}

// Sends the queued control frames unless another thread is writing: that one sends them when it is
// done (it looks again after letting go of the lock, so none is left behind).
void Connection::flush_control() {
  while (has_control_) {
    if (!write_mu_.try_lock()) return;
    std::deque<Control> items;
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      items.swap(control_);
      has_control_ = false;
    }
    for (const Control &c : items) {
      if (close_sent_ || broken_) break;
      if (!write_frame(0, c.frame.data(), c.frame.size())) break;
      if (c.close) {
        close_sent_ = true;
        // The peer reads our close, answers, and sees the end of the stream.
        shutdown(fd_, SHUT_WR);
      }
    }
    write_mu_.unlock();
  }
}

bool Connection::send(const char *data, size_t size) { return send(data, size, nullptr, 0); }

bool Connection::send(const char *data, size_t size, const void *tail, size_t tail_size) {
  bool ok;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (close_sent_ || broken_) return false;
    ok = write_frame(ws::kBinary, data, size, tail, tail_size);
  }
  flush_control();
  return ok;
}

// Under write_mu_. opcode 0 with `data` a whole encoded frame; otherwise a head is put before it
// (and the payload is data, then tail).
bool Connection::write_frame(uint8_t opcode, const char *data, size_t size, const void *tail, size_t tail_size) {
  uint8_t head[10];
  iovec iov[3];
  int count = 0;
  if (opcode != 0) iov[count++] = {head, ws::encode_head(head, opcode, size + tail_size)};
  iov[count++] = {const_cast<char *>(data), size};
  if (tail_size > 0) iov[count++] = {const_cast<void *>(tail), tail_size};
  int first = 0;
  while (first < count) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = (size_t)(count - first);
    const ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd p = {fd_, POLLOUT, 0};
        if (terminated_) break;
        if (poll(&p, 1, 200) < 0 && errno != EINTR) break;
        continue;
      }
      break;
    }
    bytes_out_ += (uint64_t)n;
    size_t left = (size_t)n;
    while (first < count && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<char *>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  if (first == count) return true;
  // A half-written frame leaves the stream unusable: the connection is over.
  broken_ = true;
  shutdown(fd_, SHUT_RDWR);
  wake();
  return false;
}

void Connection::ping() {
  queue(ws::kPing, std::string(), false);
  wake();
}

void Connection::close(uint16_t code, const std::string &reason) {
  std::string payload{char(code >> 8), char(code & 0xff)};
  payload += reason.substr(0, 123);
  queue(ws::kClose, payload, true);
  wake();
}

void Connection::terminate() {
  terminated_ = true;
  shutdown(fd_, SHUT_RDWR);
  wake();
}

Connection::Figures Connection::figures() const {
  std::lock_guard<std::mutex> lock(backlog_mu_);
  const uint64_t now = now_ms(), last = last_read_ms_;
  return {now > last ? now - last : 0, paused_, pauses_, bytes_in_, bytes_out_};
}

}  // namespace gp
