// Shared memory of local jobs (shared_memory.h). A region is trusted only as far as the kernel vouches
// for it: a shmem file (memfd) sealed against shrinking, so that no page the daemon mapped can vanish
// under it (a SIGBUS in the daemon or its worker would take every session of it down).
#include "shared_memory.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include <cudaTypedefs.h>

#include "call_ring.h"
#include "gp_frames.h"
#include "gp_ops.h"
#include "handlers.h"
#include "session.h"
#include "wire.h"

namespace gp {

PassedFds::~PassedFds() {
  for (int fd : fds_) ::close(fd);
}

void PassedFds::put(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  // A client that passes descriptors without frames to use them gets them closed, not kept.
  if (fds_.size() >= kMaxWaiting || (limits_.max_bytes == 0 && limits_.call_ring_bytes == 0)) {
    ::close(fd);
    return;
  }
  fds_.push_back(fd);
}

int PassedFds::take() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fds_.empty()) return -1;
  const int fd = fds_.front();
  fds_.pop_front();
  return fd;
}

ssize_t recv_keeping_fds(int fd, void *buf, size_t len, int flags, PassedFds *into) {
  struct iovec iov = {buf, len};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  // Descriptors beyond the control buffer are closed by the kernel (MSG_CTRUNC).
  const ssize_t n = recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
  if (n < 0 || msg.msg_controllen == 0) return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int passed;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      if (into != nullptr)
        into->put(passed);
      else
        ::close(passed);
    }
  }
  return n;
}

namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text(const char *what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

CUresult check_memfd(int fd, uint64_t bytes, std::string *why) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *why = errno_text("fstat");
    return CUDA_ERROR_INVALID_HANDLE;
  }
  if (!S_ISREG(st.st_mode)) {
    *why = "the descriptor is no regular file (a memfd is)";
    return CUDA_ERROR_INVALID_VALUE;
  }
  // Shmem, not hugetlbfs: a huge page the pool cannot give at the first touch would be a SIGBUS here.
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
    *why = "the descriptor is no shmem file (a memfd without MFD_HUGETLB is)";
    return CUDA_ERROR_INVALID_VALUE;
  }
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    *why = "the descriptor is no memfd (F_GET_SEALS: " + std::string(std::strerror(errno)) + ")";
    return CUDA_ERROR_INVALID_VALUE;
  }
  if ((seals & F_SEAL_SHRINK) == 0 || (seals & F_SEAL_SEAL) == 0) {
    *why = "the memfd is not sealed with F_SEAL_SHRINK and F_SEAL_SEAL";
    return CUDA_ERROR_INVALID_VALUE;
  }
  if ((uint64_t)st.st_size < bytes) {
    *why = "the memfd holds " + std::to_string(st.st_size) + " bytes, fewer than the " + std::to_string(bytes) + " named";
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

std::shared_ptr<CallRing> SharedMemory::open_ring(uint64_t bytes, CUresult *rc, std::string *why) {
  std::shared_ptr<PassedFds> fds = source();
  FdCloser fd{fds ? fds->take() : -1};
  if (fd.fd < 0) {
    *why = "no descriptor came with it (a call ring works on the daemon's Unix socket only)";
    *rc = CUDA_ERROR_INVALID_HANDLE;
    return nullptr;
  }
  if (ring_offer_ != nullptr) {
    *why = "the session has a call ring already";
    *rc = CUDA_ERROR_INVALID_VALUE;
    return nullptr;
  }
  return CallRing::open(fd.fd, bytes, fds->limits(), rc, why);
}

SharedMemory::~SharedMemory() {
  // The session's teardown unregistered them (clear); what is left is only mapped.
  for (auto &r : regions_) munmap(r.second.base, r.second.bytes);
}

CUresult SharedMemory::add(Session &s, uint32_t id, uint64_t bytes, std::string *why) {
  std::shared_ptr<PassedFds> fds = source();
  FdCloser fd{fds ? fds->take() : -1};
  if (fd.fd < 0) {
    *why = "no descriptor came with it (shared memory works on the daemon's Unix socket only)";
    return CUDA_ERROR_INVALID_HANDLE;
  }
  const SharedMemoryLimits &limits = fds->limits();
  if (regions_.count(id) != 0) {
    *why = "region " + std::to_string(id) + " is in use";
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (bytes == 0) {
    *why = "a region of 0 bytes";
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (regions_.size() >= limits.max_regions || mapped_ > limits.max_bytes || bytes > limits.max_bytes - mapped_) {
    *why = "over the session's shared memory (compute.sharedMemoryBytes " + std::to_string(limits.max_bytes) +
           ", compute.sharedMemoryRegions " + std::to_string(limits.max_regions) + ")";
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  const CUresult checked = check_memfd(fd.fd, bytes, why);
  if (checked != CUDA_SUCCESS) return checked;
  void *base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.fd, 0);
  if (base == MAP_FAILED) {
    *why = errno_text("mmap");
    return CUDA_ERROR_INVALID_VALUE;
  }
  // Pinned, so that a real card's DMA reads and writes it in place. A driver that refuses (no context
  // yet) still copies from it, through its own staging.
  const bool registered = s.driver().api().memHostRegister(base, bytes, CU_MEMHOSTREGISTER_PORTABLE) == CUDA_SUCCESS;
  regions_[id] = Region{(unsigned char *)base, bytes, registered};
  mapped_ += bytes;
  publish();
  return CUDA_SUCCESS;
}

void SharedMemory::unmap(Session &s, Region &r) {
  if (r.registered) s.driver().api().memHostUnregister(r.base);
  munmap(r.base, r.bytes);
  mapped_ -= r.bytes;
}

CUresult SharedMemory::release(Session &s, uint32_t id) {
  auto it = regions_.find(id);
  if (it == regions_.end()) return CUDA_ERROR_INVALID_VALUE;
  unmap(s, it->second);
  regions_.erase(it);
  publish();
  return CUDA_SUCCESS;
}

unsigned char *SharedMemory::span(uint32_t id, uint64_t offset, uint64_t bytes) const {
  auto it = regions_.find(id);
  if (it == regions_.end() || offset > it->second.bytes || bytes > it->second.bytes - offset) return nullptr;
  return it->second.base + offset;
}

void SharedMemory::clear(Session &s) {
  for (auto &r : regions_) unmap(s, r.second);
  regions_.clear();
  publish();
}

bool is_shared_memory_op(uint64_t op) {
  return op == GP_OP_SHM_REGION || op == GP_OP_SHM_RELEASE || op == GP_OP_SHM_COPY || op == GP_OP_SHM_RING || op == GP_OP_SHM_COPY_3D;
}

namespace {

void reply(Writer &w, const Call &call, CUresult rc) {
  if (w.begin_reply(call, rc)) w.end_reply();
}

// The first refusal of a session is said in the daemon's log (later ones only answer the client).
void say(Session &s, const std::string &why) {
  if (s.shared_memory_said) return;
  s.shared_memory_said = true;
  std::fprintf(stderr, "gpupoold: a client's shared memory refused: %s\n", why.c_str());
}

// The op whose driver entry point runs a copy: the synchronous or async, plain or per-thread variant.
uint32_t copy_op(const gp_frame_shm_copy &f) {
  if (f.kind == 0) {
    if (f.async) return f.per_thread ? GP_OP_cuMemcpyHtoDAsync_v7000_ptsz : GP_OP_cuMemcpyHtoDAsync_v3020;
    return f.per_thread ? GP_OP_cuMemcpyHtoD_v7000_ptsz : GP_OP_cuMemcpyHtoD_v3020;
  }
  if (f.async) return f.per_thread ? GP_OP_cuMemcpyDtoHAsync_v7000_ptsz : GP_OP_cuMemcpyDtoHAsync_v3020;
  return f.per_thread ? GP_OP_cuMemcpyDtoH_v7000_ptsz : GP_OP_cuMemcpyDtoH_v3020;
}

CUresult run_copy(Session &s, const gp_frame_shm_copy &f, unsigned char *host) {
  const uint32_t op = copy_op(f);
  CUresult rc = s.check_device(op, f.kind == 0 ? "dstDevice" : "srcDevice", f.device, Extent(f.bytes), CUDA_ERROR_INVALID_VALUE);
  void *stream = nullptr;
  if (rc == CUDA_SUCCESS && f.async && !s.lookup(f.stream, GP_HANDLE_CUstream, &stream)) rc = CUDA_ERROR_INVALID_HANDLE;
  if (rc != CUDA_SUCCESS || f.bytes == 0) return rc;
  WorkScope work(s, (CUstream)stream, f.per_thread != 0);
  if (work.rc != CUDA_SUCCESS) return work.rc;
  const Driver &d = s.driver();
  if (f.kind == 0 && f.async)
    rc = d.fn<PFN_cuMemcpyHtoDAsync_v3020>(op)(f.device, host, f.bytes, (CUstream)stream);
  else if (f.kind == 0)
    rc = d.fn<PFN_cuMemcpyHtoD_v3020>(op)(f.device, host, f.bytes);
  else if (f.async)
    rc = d.fn<PFN_cuMemcpyDtoHAsync_v3020>(op)(host, f.device, f.bytes, (CUstream)stream);
  else
    rc = d.fn<PFN_cuMemcpyDtoH_v3020>(op)(host, f.device, f.bytes);
  // A staging slot is the client's again only once the card is done with it.
  if (rc == CUDA_SUCCESS && f.async && f.signal != 0) rc = d.api().streamSynchronize((CUstream)stream);
  return rc;
}

// Sets the signal word and wakes the client waiting on it (a futex shared between the processes).
bool signal(Session &s, uint32_t region, uint64_t signal, uint32_t value) {
  const uint64_t at = signal - 1;
  unsigned char *word = at % 4 == 0 ? s.shared_memory.span(region, at, 4) : nullptr;
  if (word == nullptr) return false;
  __atomic_store_n((uint32_t *)word, value, __ATOMIC_RELEASE);
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  return true;
}

}  // namespace

void run_shared_memory_frame(Session &s, Reader &r, Writer &w, const Call &call, uint64_t op) {
  if (op == GP_OP_SHM_REGION) {
    gp_frame_shm_region f{};
    r.decode(gp_frame_shm_region_decode, &f);
    std::string why;
    const CUresult rc = s.shared_memory.add(s, f.region, f.bytes, &why);
    if (rc != CUDA_SUCCESS) say(s, "region " + std::to_string(f.region) + ": " + why);
    reply(w, call, rc);
  } else if (op == GP_OP_SHM_RING) {
    gp_frame_shm_ring f{};
    r.decode(gp_frame_shm_ring_decode, &f);
    std::string why;
    CUresult rc = CUDA_SUCCESS;
    auto ring = s.shared_memory.open_ring(f.bytes, &rc, &why);
    if (ring == nullptr) say(s, "call ring: " + why);
    // Taken up by the session's runner once this message's replies are out (they go on the socket).
    s.shared_memory.offer_ring(std::move(ring));
    reply(w, call, rc);
  } else if (op == GP_OP_SHM_RELEASE) {
    gp_frame_shm_release f{};
    r.decode(gp_frame_shm_release_decode, &f);
    reply(w, call, s.shared_memory.release(s, f.region));
  } else if (op == GP_OP_SHM_COPY_3D) {
    gp_frame_shm_copy_3d f{};
    r.decode(gp_frame_shm_copy_3d_decode, &f);
    bool outside = false;
    CUresult rc = handlers::memcpy_3d_shared(s, f, &outside);
    s.shared_memory.count_copy();
    if (outside) say(s, "a box copy names rows outside its regions (region " + std::to_string(f.region) + ")");
    if (f.signal != 0 && !signal(s, f.region, f.signal, f.signal_value) && rc == CUDA_SUCCESS) rc = CUDA_ERROR_INVALID_VALUE;
    reply(w, call, rc);
  } else {
    gp_frame_shm_copy f{};
    r.decode(gp_frame_shm_copy_decode, &f);
    unsigned char *host = s.shared_memory.span(f.region, f.offset, f.bytes);
    CUresult rc = host != nullptr ? run_copy(s, f, host) : CUDA_ERROR_INVALID_VALUE;
    s.shared_memory.count_copy();
    if (host == nullptr) say(s, "a copy names bytes outside its regions (region " + std::to_string(f.region) + ")");
    // Signalled whatever the copy's outcome: the client waits for it before it reuses the slot.
    if (f.signal != 0 && !signal(s, f.region, f.signal, f.signal_value) && rc == CUDA_SUCCESS) rc = CUDA_ERROR_INVALID_VALUE;
    reply(w, call, rc);
  }
}

}  // namespace gp
