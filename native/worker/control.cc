#include "control.h"

#include <cerrno>
#include <cstdlib>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace gp::worker {

namespace {
bool write_all(int fd, struct iovec *iov, int count) {
  while (count > 0) {
    ssize_t n = writev(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    while (count > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char *>(iov->iov_base) + n;
      iov->iov_len -= (size_t)n;
    }
  }
  return true;
}

bool read_all(int fd, char *dest, size_t size) {
  while (size > 0) {
    ssize_t n = read(fd, dest, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    dest += n;
    size -= (size_t)n;
  }
  return true;
}
}  // namespace

bool Channel::send(Msg type, uint32_t session, const char *data, size_t size) {
  uint8_t head[kHeadBytes];
  const uint32_t length = (uint32_t)(size + kLengthOverhead);
  for (int i = 0; i < 4; i++) head[i] = (uint8_t)(length >> (8 * i));
  head[4] = (uint8_t)type;
  for (int i = 0; i < 4; i++) head[5 + i] = (uint8_t)(session >> (8 * i));
  struct iovec iov[2] = {{head, sizeof head}, {const_cast<char *>(data), size}};
  std::lock_guard<std::mutex> lock(write_mu_);
  return write_all(fd_, iov, size > 0 ? 2 : 1);
}

bool Channel::receive(Msg *type, uint32_t *session, char **data, size_t *size) {
  uint8_t head[kHeadBytes];
  if (!read_all(fd_, reinterpret_cast<char *>(head), sizeof head)) return false;
  uint32_t length = 0;
  for (int i = 0; i < 4; i++) length |= (uint32_t)head[i] << (8 * i);
  if (length < kLengthOverhead || length > kMaxControlFrame) return false;
  *type = (Msg)head[4];
  *session = 0;
  for (int i = 0; i < 4; i++) *session |= (uint32_t)head[5 + i] << (8 * i);
  *size = length - kLengthOverhead;
  *data = nullptr;
  if (*size == 0) return true;
  *data = static_cast<char *>(std::malloc(*size));
  if (*data == nullptr) return false;
  if (read_all(fd_, *data, *size)) return true;
  std::free(*data);
  *data = nullptr;
  return false;
}

}  // namespace gp::worker
