// Shared memory of jobs on the daemon's host (issue 13; docs/protocol.md, "Shared memory"): the
// client passes memfd regions over the Unix socket (SCM_RIGHTS), and its copies then name
// (region, offset, bytes) instead of carrying the bytes. The reader thread keeps the descriptors that
// come with the client's bytes (PassedFds); the session's thread checks, maps and registers them when
// the region's frame names them, and runs the copies (SharedMemory, shm_* handlers).
#ifndef GPUPOOL_ADDON_SHARED_MEMORY_H
#define GPUPOOL_ADDON_SHARED_MEMORY_H

#include <sys/types.h>

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <cuda.h>

namespace gp {

class Session;
class CallRing;
class Reader;
class Writer;
struct Call;

// What one session may map (config compute.sharedMemoryBytes, compute.sharedMemoryRegions); 0 bytes:
// shared memory is refused.
struct SharedMemoryLimits {
  uint64_t max_bytes = 0;
  uint32_t max_regions = 0;
  // The call ring (call_ring.h; config compute.callRingBytes, callRingSpinUs): 0 bytes refuses it.
  uint64_t call_ring_bytes = 0;
  uint64_t call_ring_spin_ns = 0;
};

// Descriptors that came with the client's bytes, in the order they came: the reader thread puts, the
// session's thread takes one per region frame. More than a region frame can use are closed at once.
class PassedFds {
 public:
  explicit PassedFds(SharedMemoryLimits limits) : limits_(limits) {}
  ~PassedFds();
  PassedFds(const PassedFds &) = delete;
  PassedFds &operator=(const PassedFds &) = delete;

  void put(int fd);
  // The oldest descriptor not taken, or -1.
  int take();
  const SharedMemoryLimits &limits() const { return limits_; }

 private:
  static constexpr size_t kMaxWaiting = 16;
  const SharedMemoryLimits limits_;
  std::mutex mu_;
  std::deque<int> fds_;
};

// Whether fd is a shmem file sealed against shrinking (F_SEAL_SHRINK, F_SEAL_SEAL) of at least
// `bytes`: all a mapping of it needs so that no page can vanish under the daemon.
CUresult check_memfd(int fd, uint64_t bytes, std::string *why);

// recv() that keeps the descriptors passed with the bytes (into `into`; closed when it is null).
ssize_t recv_keeping_fds(int fd, void *buf, size_t len, int flags, PassedFds *into);

// The session's mapped regions. Used by the session's thread only.
class SharedMemory {
 public:
  SharedMemory() = default;
  ~SharedMemory();
  SharedMemory(const SharedMemory &) = delete;
  SharedMemory &operator=(const SharedMemory &) = delete;

  // The connection's descriptors and limits (at attach; before it, every region is refused).
  void set_source(std::shared_ptr<PassedFds> fds) {
    std::lock_guard<std::mutex> lock(mu_);
    fds_ = std::move(fds);
  }
  std::shared_ptr<PassedFds> source() {
    std::lock_guard<std::mutex> lock(mu_);
    return fds_;
  }
  // Checks the next passed descriptor (a sealed memfd of at least `bytes`), maps and registers it.
  // The CUresult, and *why for the log.
  CUresult add(Session &s, uint32_t id, uint64_t bytes, std::string *why);
  CUresult release(Session &s, uint32_t id);
  // The call ring frame (call_ring.h): checks and maps the next passed descriptor. Null with *rc, *why.
  std::shared_ptr<CallRing> open_ring(uint64_t bytes, CUresult *rc, std::string *why);
  // The ring the last ring frame mapped, for the runner to take up (once).
  void offer_ring(std::shared_ptr<CallRing> ring) {
    if (ring != nullptr) ring_offer_ = std::move(ring);
  }
  std::shared_ptr<CallRing> take_ring() {
    if (ring_taken_) return nullptr;
    if (ring_offer_ != nullptr) ring_taken_ = true;
    ring_pub_.store(ring_taken_, std::memory_order_relaxed);
    return ring_offer_;
  }
  bool ring_in_use() const { return ring_pub_.load(std::memory_order_relaxed); }
  // The host memory [offset, offset+bytes) of region id, or nullptr when it is no such span.
  unsigned char *span(uint32_t id, uint64_t offset, uint64_t bytes) const;
  // Unregisters and unmaps every region (teardown, before the contexts go).
  void clear(Session &s);
  // For stats(), from any thread: what is mapped, and the copies run through it.
  uint64_t mapped_bytes() const { return mapped_pub_.load(std::memory_order_relaxed); }
  uint64_t regions() const { return regions_pub_.load(std::memory_order_relaxed); }
  uint64_t copies() const { return copies_.load(std::memory_order_relaxed); }
  void count_copy() { copies_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Region {
    unsigned char *base;
    uint64_t bytes;
    bool registered;
  };
  void unmap(Session &s, Region &r);
  void publish() {
    mapped_pub_.store(mapped_, std::memory_order_relaxed);
    regions_pub_.store(regions_.size(), std::memory_order_relaxed);
  }

  std::mutex mu_;  // only for fds_, which attach sets from another thread
  std::shared_ptr<PassedFds> fds_;
  std::map<uint32_t, Region> regions_;
  std::shared_ptr<CallRing> ring_offer_;  // kept: a second ring frame is refused
  bool ring_taken_ = false;
  std::atomic<bool> ring_pub_{false};
  uint64_t mapped_ = 0;
  std::atomic<uint64_t> mapped_pub_{0}, regions_pub_{0}, copies_{0};
};

// The ops of frames.ts sharedMemoryOps: whether op is one, and its handler (frame decoded from r).
bool is_shared_memory_op(uint64_t op);
void run_shared_memory_frame(Session &s, Reader &r, Writer &w, const Call &call, uint64_t op);

}  // namespace gp

#endif
