// The control channel between the daemon and one session worker (docs/architecture.md): a stream
// socket (the worker's fd 3) carrying frames [u32 length, little-endian][u8 type][u32 session][payload],
// length counting the type, the session and the payload, as `workerControl` in src/protocol/frames.ts
// defines them. Session 0 is the process itself; a tenant's worker runs several sessions.
// src/compute/worker-channel.ts is the daemon's end.
#ifndef GPUPOOL_WORKER_CONTROL_H
#define GPUPOOL_WORKER_CONTROL_H

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "gp_worker_control.h"

namespace gp::worker {

// The message types, from the table of src/protocol/frames.ts (`workerControl`).
using Msg = gp_worker_msg;

constexpr size_t kMaxControlFrame = GP_WORKER_MAX_FRAME;
constexpr size_t kHeadBytes = GP_WORKER_HEAD_BYTES;
// What the length counts besides the payload: the type byte and the session.
constexpr size_t kLengthOverhead = kHeadBytes - 4;

// Writes whole frames from any thread.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  // False once the daemon's end is gone.
  bool send(Msg type, uint32_t session, const char *data, size_t size);
  bool send(Msg type, uint32_t session, const std::string &s) { return send(type, session, s.data(), s.size()); }
  // Blocking read of one frame into a malloc'd buffer the caller frees (null when empty); false at
  // the end of the channel, on a malformed frame, or when the buffer cannot be had.
  bool receive(Msg *type, uint32_t *session, char **data, size_t *size);

 private:
  const int fd_;
  std::mutex write_mu_;
};

}  // namespace gp::worker

#endif
