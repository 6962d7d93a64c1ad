// The control channel between the daemon and one session worker (docs/architecture.md): a stream
// socket (the worker's fd 3) carrying frames [u32 length, little-endian][u8 type][payload], length
// counting the type and the payload. src/compute/worker-channel.ts is the daemon's end.
#ifndef GPUPOOL_WORKER_CONTROL_H
#define GPUPOOL_WORKER_CONTROL_H

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace gp::worker {

// Keep in step with src/compute/worker-channel.ts.
enum class Msg : uint8_t {
  // daemon -> worker
  kInit = 1,        // JSON: {driver, quota, share, limit, priority, paused, scheduler, heartbeatMs}
  kSubmit = 2,      // one client message (call frames)
  kClose = 3,       // stop after the current message
  kCloseConn = 4,   // JSON {code, reason}: a close frame to the attached connection
  kTerminate = 5,   // cut the attached connection and stop
  kPing = 6,        // a ping to the attached connection
  kSchedule = 7,    // JSON {share, limit, priority, paused}
  kPoison = 8,      // JSON {ordinal, code}
  kAttach = 9,      // JSON {maxMessageBytes, maxQueuedBytes}, NUL, then the bytes already read; the socket is fd 4
  // worker -> daemon
  kReady = 100,     // the driver is open: calls may run
  kOutput = 101,    // replies (the submit path)
  kReleased = 102,  // u64: backlog cost of submitted messages now run
  kRefusal = 103,   // JSON: the session's first bounds-check refusal
  kStats = 104,     // JSON: the session's stats and the connection's figures; also the heartbeat
  kClosed = 105,    // JSON {reason, code}: the session's end; the worker exits after it
};

constexpr size_t kMaxControlFrame = size_t(1) << 31;

// Writes whole frames from any thread.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  // False once the daemon's end is gone.
  bool send(Msg type, const char *data, size_t size);
  bool send(Msg type, const std::string &s) { return send(type, s.data(), s.size()); }
  // Blocking read of one frame into a malloc'd buffer the caller frees (null when empty); false at
  // the end of the channel, on a malformed frame, or when the buffer cannot be had.
  bool receive(Msg *type, char **data, size_t *size);

 private:
  const int fd_;
  std::mutex write_mu_;
};

}  // namespace gp::worker

#endif
