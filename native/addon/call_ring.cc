#include "call_ring.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "connection.h"

namespace gp {

std::shared_ptr<CallRing> CallRing::open(int fd, uint64_t bytes, const SharedMemoryLimits &limits, CUresult *rc, std::string *why) {
  const uint64_t cap = gp_ring_cap_of(bytes);
  if (limits.call_ring_bytes == 0) {
    *why = "call rings are off (compute.callRingBytes 0)";
    *rc = CUDA_ERROR_NOT_SUPPORTED;
    return nullptr;
  }
  if (cap == 0) {
    *why = "a ring of " + std::to_string(bytes) + " bytes: not 4096 and two rings of a power of two from 64 KiB to 64 MiB";
    *rc = CUDA_ERROR_INVALID_VALUE;
    return nullptr;
  }
  if (bytes > limits.call_ring_bytes) {
    *why = "a ring of " + std::to_string(bytes) + " bytes, over compute.callRingBytes " + std::to_string(limits.call_ring_bytes);
    *rc = CUDA_ERROR_OUT_OF_MEMORY;
    return nullptr;
  }
  *rc = check_memfd(fd, bytes, why);
  if (*rc != CUDA_SUCCESS) return nullptr;
  void *base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    *why = "mmap failed";
    *rc = CUDA_ERROR_INVALID_VALUE;
    return nullptr;
  }
  return std::shared_ptr<CallRing>(new CallRing(static_cast<uint8_t *>(base), bytes, cap, limits.call_ring_spin_ns));
}

CallRing::CallRing(uint8_t *base, uint64_t bytes, uint64_t cap, uint64_t spin_ns) : base_(base), bytes_(bytes), spin_ns_(spin_ns) {
  gp_ring_dirs(base_, cap, &req_, &rep_);
  // The client made the ring fresh, but it says where it starts: the session takes its word once.
  req_tail_ = __atomic_load_n(req_.tail, __ATOMIC_ACQUIRE);
  rep_head_ = __atomic_load_n(rep_.head, __ATOMIC_ACQUIRE);
  __atomic_store_n(gp_ring_word(base_, GP_RING_SESSION_AWAKE), 1u, __ATOMIC_SEQ_CST);
}

CallRing::~CallRing() { munmap(base_, bytes_); }

bool CallRing::has_request() const { return __atomic_load_n(req_.head, __ATOMIC_ACQUIRE) != req_tail_; }

CallRing::Take CallRing::take(std::vector<char> &buf) {
  gp_ring_rec rec;
  const int found = gp_ring_peek(&req_, req_tail_, &rec);
  if (found == GP_RING_EMPTY) return Take::kEmpty;
  if (found == GP_RING_BAD) return Take::kBad;
  if (rec.kind == GP_RING_SOCKET) {
    buf.clear();
    req_tail_ = rec.next_tail;
    gp_ring_consumed(&req_, req_tail_);
    return Take::kSocket;
  }
  // The messages that follow, up to a marker, become one: a message is a run of frames, so running
  // them together is running them in turn, and the session pays its per-message costs once for all
  // the records the client published meanwhile (a stream of launches in small records).
  buf.clear();
  for (;;) {
    const size_t at = buf.size();
    buf.resize(at + rec.len);
    if (rec.len > 0) std::memcpy(buf.data() + at, rec.payload, rec.len);
    req_tail_ = rec.next_tail;
    if (buf.size() >= kGatherBytes || gp_ring_peek(&req_, req_tail_, &rec) != GP_RING_FOUND || rec.kind != GP_RING_MSG) break;
  }
  gp_ring_consumed(&req_, req_tail_);
  return Take::kMessage;
}

void CallRing::polling() {
  if (polling_) return;
  polling_ = true;
  __atomic_store_n(gp_ring_word(base_, GP_RING_SESSION_AWAKE), GP_RING_SESSION_POLLING, __ATOMIC_SEQ_CST);
  // Ordered after that word and the records' consumption (the tail stores): a client that held calls
  // back before it could see either has said so by now; one after sees the word and holds nothing.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (__atomic_load_n(gp_ring_word(base_, GP_RING_CLIENT_HELD), __ATOMIC_RELAXED) != 0)
    gp_ring_ring(gp_ring_word(base_, GP_RING_CLIENT_BELL), gp_ring_word(base_, GP_RING_CLIENT_AWAKE));
}

void CallRing::running() {
  if (!polling_) return;
  polling_ = false;
  __atomic_store_n(gp_ring_word(base_, GP_RING_SESSION_AWAKE), 1u, __ATOMIC_SEQ_CST);
}

bool CallRing::send(Connection *c, const char *data, size_t size, const std::atomic<bool> &stopping, bool *bad) {
  *bad = false;
  const bool inline_ = size <= gp_ring_max_payload(rep_.cap);
  // A full ring: the client reads it (its reply reader), so the wait is short; a client that froze
  // costs naps, not a spinning CPU, until the session ends.
  uint64_t nap_us = 0;
  for (;;) {
    const int put = inline_ ? gp_ring_put(&rep_, &rep_head_, GP_RING_MSG, data, (uint32_t)size) : gp_ring_put(&rep_, &rep_head_, GP_RING_SOCKET, nullptr, 0);
    if (put == 0) break;
    if (put < 0) {
      *bad = true;
      return false;
    }
    if (stopping.load(std::memory_order_relaxed)) return false;
    if (nap_us == 0) {
      std::this_thread::yield();
      nap_us = 10;
    } else {
      usleep((useconds_t)nap_us);
      nap_us = std::min<uint64_t>(nap_us * 2, 1000);
    }
  }
  gp_ring_ring(gp_ring_word(base_, GP_RING_CLIENT_BELL), gp_ring_word(base_, GP_RING_CLIENT_AWAKE));
  return inline_ || (c != nullptr && c->send(data, size));
}

void CallRing::sleep(uint64_t timeout_ns, const std::function<bool()> &ready) {
  uint32_t *bell = gp_ring_word(base_, GP_RING_SESSION_BELL), *awake = gp_ring_word(base_, GP_RING_SESSION_AWAKE);
  const uint32_t seen = __atomic_load_n(bell, __ATOMIC_SEQ_CST);
  __atomic_store_n(awake, 0u, __ATOMIC_SEQ_CST);
  sleeping_.store(true, std::memory_order_seq_cst);
  // Looked at again after saying so: whoever gave work before it saw us awake, and rang nobody.
  if (!has_request() && !ready()) gp_ring_futex_wait(bell, seen, (long)timeout_ns);
  sleeping_.store(false, std::memory_order_relaxed);
  __atomic_store_n(awake, 1u, __ATOMIC_SEQ_CST);
  polling_ = false;
}

void CallRing::notify() {
  uint32_t *bell = gp_ring_word(base_, GP_RING_SESSION_BELL);
  __atomic_fetch_add(bell, 1u, __ATOMIC_SEQ_CST);
  if (sleeping_.load(std::memory_order_seq_cst)) gp_ring_futex_wake(bell);
}

}  // namespace gp
