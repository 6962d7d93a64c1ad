// A client's WebSocket connection once the handshake is done, owned by native code (issue 13): the
// session's thread reads its messages off the socket itself while it has nothing else to run, a
// reader thread of its own does while the session is busy (and hands it the messages), and the
// session's thread writes its replies itself. The JS thread never reads, writes or
// waits here: it asks for pings and closes, which the reader sends, and reads the figures.
#ifndef GPUPOOL_ADDON_CONNECTION_H
#define GPUPOOL_ADDON_CONNECTION_H

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shared_memory.h"

namespace gp {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // docs/protocol.md, "Limits": the same as the JS path's (config `compute`).
  struct Limits {
    uint64_t max_message = 0;  // a larger message closes the connection with 1009
    size_t max_queued = 0;     // the reader stops while the messages taken and not run hold more
    SharedMemoryLimits shared_memory;  // descriptors the client may pass (Unix socket), for its regions
  };
  // Both run on the reader thread.
  struct Events {
    // A whole message, malloc'd, for the session to run and free; false: not taken (the reader frees it).
    std::function<bool(char *data, size_t size)> message;
    // Once: the connection is ending (the peer's close code, 1006 when it went away, or the code of
    // the close this side sent). Messages stop here.
    std::function<void(uint16_t code)> ended;
    // The reader handed the socket back to the session's thread (read_inline), which asked for it.
    std::function<void()> turn;
  };
  // What read_inline() came back with.
  enum class Inline {
    kMessage,      // a whole message, given to `take` (counted against max_queued until release())
    kTimeout,      // the timeout passed with nothing read
    kInterrupted,  // interrupt() was called
    kUnavailable,  // the reader thread holds the socket: it hands it over after its next message (Events::turn)
    kEnded,        // the connection is over (the reader says goodbye and reports the end)
  };
  struct Figures {
    uint64_t idle_ms;     // since bytes last came in
    bool paused;          // the reader waits for the session to catch up
    uint64_t pauses;      // times it did
    uint64_t bytes_in;
    uint64_t bytes_out;
  };

  // Takes a duplicate of `fd` (the caller keeps and closes its own) and the bytes already read off it.
  // Throws std::system_error when the descriptor is not a usable socket.
  static std::shared_ptr<Connection> open(int fd, Limits limits, std::string prefix, Events events);
  // Starts the reader thread: messages and the end come to the events from now on.
  void start();
  ~Connection();
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  // One binary message; waits while the socket is full. False once a close was sent or the socket broke.
  bool send(const char *data, size_t size);
  // One binary message of data then tail, written from where they are (a copy's reply and its bytes).
  bool send(const char *data, size_t size, const void *tail, size_t tail_size);
  // On the session's thread, its queue empty: the next message read off the socket by this thread
  // itself, with no hand-off from the reader (issue 13). One thread reads at a time: the session
  // while it is idle, the reader while the session runs a call for long (pings, closes, passed
  // descriptors, back-pressure), or a large message (a copy's next slice is read ahead meanwhile).
  // timeout_ms < 0: no timeout.
  // A message read (malloc'd, never empty) goes to `take`, which queues it for the session before
  // this returns kMessage.
  using Take = std::function<void(char *data, size_t size)>;
  Inline read_inline(int timeout_ms, const Take &take);
  // Makes a read_inline() in progress return kInterrupted (between messages).
  void interrupt();
  // The session's thread reads no more (its calls come through the call ring): the socket is the reader's.
  void leave_to_reader();
  // Never wait: queued for whichever thread writes next (the reader is woken for it).
  void ping();
  void close(uint16_t code, const std::string &reason);
  // Cuts the connection now (no close frame): a silent peer.
  void terminate();
  // The session ran a message of this backlog cost.
  void release(size_t cost);
  // The session is done with a message this connection handed it: a large one's buffer is kept for
  // the next large message (page-touched memory, not a fresh mapping faulted in page by page), else freed.
  void recycle(char *data);
  Figures figures() const;
  // The descriptors the client passed with its bytes (SCM_RIGHTS), for its shared memory regions.
  const std::shared_ptr<PassedFds> &passed_fds() const { return passed_fds_; }

  // What one message counts against max_queued: its bytes and a share for its bookkeeping.
  static size_t cost(size_t size) { return size + 256; }

 private:
  Connection(int fd, int wake_fd, Limits limits, std::string prefix, Events events);
  struct Control {
    std::string frame;
    bool close;
  };
  // Who reads the socket (under own_mu_).
  enum class Owner { kReader, kSession };
  // What await_bytes() saw.
  enum class Await { kBytes, kTimeout, kStop, kClosing, kOver };
  void read_loop();
  bool await_turn();
  void hand_to_session();
  Await await_bytes(int timeout_ms, std::atomic<bool> &stop);
  enum class Poll { kReadable, kWoken, kTimeout, kError };
  Poll poll_socket(int timeout_ms);
  bool read_message(char *&data, size_t &size);
  void drain();
  bool wait_readable();
  bool fill();
  bool read_payload(uint8_t *dest, uint64_t length, const uint8_t mask[4]);
  bool deliver(char *data, size_t size);
  char *take_spare(size_t need, size_t &capacity);
  void fail(uint16_t code, const std::string &reason);
  void end(uint16_t code);
  void queue(uint8_t opcode, const std::string &payload, bool close);
  void wake();
  void flush_control();
  bool write_frame(uint8_t opcode, const char *data, size_t size, const void *tail = nullptr, size_t tail_size = 0);
  static uint64_t now_ms();

  const int fd_;
  const int wake_fd_;
  const Limits limits_;
  const std::shared_ptr<PassedFds> passed_fds_;
  Events events_;
  std::vector<uint8_t> in_;
  size_t begin_ = 0, end_ = 0;
  bool ended_ = false;  // reader thread only

  std::mutex write_mu_;  // whoever holds it writes whole frames
  std::mutex control_mu_;
  std::deque<Control> control_;
  std::atomic<bool> has_control_{false};
  std::atomic<bool> close_sent_{false};
  std::atomic<bool> close_queued_{false};
  std::atomic<uint64_t> close_deadline_ms_{0};
  std::atomic<bool> broken_{false};
  std::atomic<bool> terminated_{false};

  mutable std::mutex backlog_mu_;
  std::condition_variable backlog_cv_;
  size_t queued_ = 0;
  bool paused_ = false;
  bool kicked_ = false;  // wake(): control frames to send while paused
  uint64_t pauses_ = 0;

  std::mutex own_mu_;
  std::condition_variable own_cv_;  // the reader, parked while the session reads
  Owner owner_ = Owner::kReader;
  bool session_reading_ = false;    // the session's thread is in read_inline()
  bool over_ = false;               // the session's read met the end: the reader says goodbye
  bool reader_untimed_ = false;     // the parked reader waits with no timeout
  uint64_t busy_since_ms_ = 0;      // the session last left read_inline()
  std::atomic<bool> want_{false};       // the session asks the reader for the socket
  std::atomic<bool> interrupted_{false};

  std::mutex spare_mu_;
  std::vector<char *> spares_;  // buffers of messages run, each at least kSpareMin bytes

  std::atomic<uint64_t> last_read_ms_;
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
};

}  // namespace gp

#endif
