// The session's side of a local job's call ring (native/common/call_ring_layout.h; docs/protocol.md, "The
// call ring"): the session's thread takes the job's messages from the request ring and writes its
// replies to the reply ring, and sleeps on the ring's bell when there is nothing to do. The client
// may change any byte of the ring at any time: every record is checked, then copied out, and the
// session's own positions never come back from shared memory.
#ifndef GPUPOOL_ADDON_CALL_RING_H
#define GPUPOOL_ADDON_CALL_RING_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <cuda.h>

#include "call_ring_layout.h"
#include "shared_memory.h"

namespace gp {

class Connection;

class CallRing {
 public:
  // Checks the descriptor (a sealed memfd of `bytes`, within the limits), maps it. On failure: null,
  // with the CUresult and *why.
  static std::shared_ptr<CallRing> open(int fd, uint64_t bytes, const SharedMemoryLimits &limits, CUresult *rc, std::string *why);
  ~CallRing();
  CallRing(const CallRing &) = delete;
  CallRing &operator=(const CallRing &) = delete;

  enum class Take { kMessage, kSocket, kEmpty, kBad };
  // The next request: a message (copied into buf: the messages of consecutive records, up to about
  // kGatherBytes, run together), "the next one is on the socket", nothing, or a ring the client broke.
  Take take(std::vector<char> &buf);
  bool has_request() const;
  // The session found the ring empty: it says it polls (a client sends at once, holding nothing back
  // for a batch), then, if the client held calls back while it ran, rings the client's reply reader to
  // send them (the client's word is a hint: at worst a needless wake). Only the first of a run of
  // empty looks writes.
  void polling();
  // The session took records: a client holds its next calls back for a batch until it polls again.
  void running();

  // A reply: into the reply ring, or on the socket after a record saying so. Waits while the ring is
  // full, until `stopping` says the session ends. False: not delivered (*bad: the client broke the ring).
  bool send(Connection *c, const char *data, size_t size, const std::atomic<bool> &stopping, bool *bad);

  // The session's thread sleeps until it is rung, `ready` says so, a request is there, or timeout_ns.
  void sleep(uint64_t timeout_ns, const std::function<bool()> &ready);
  // From the daemon's own threads (the socket's reader, a stop, the card's waiters): wakes the
  // session if it sleeps. Needs nothing from the client's words, which it may have scribbled on.
  void notify();
  uint64_t spin_ns() const { return spin_ns_; }
  static constexpr size_t kGatherBytes = size_t(256) << 10;

 private:
  CallRing(uint8_t *base, uint64_t bytes, uint64_t cap, uint64_t spin_ns);
  uint8_t *const base_;
  const uint64_t bytes_;
  const uint64_t spin_ns_;
  gp_ring_dir req_{}, rep_{};
  uint64_t req_tail_ = 0;  // the session's own positions
  uint64_t rep_head_ = 0;
  std::atomic<bool> sleeping_{false};
  bool polling_ = false;  // what the session's word says: polling (3), or running or asleep
};

}  // namespace gp

#endif
