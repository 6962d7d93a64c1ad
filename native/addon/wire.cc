#include "wire.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include <msgpuck.h>

#include "gp_frames.h"
#include "session.h"

namespace gp {

// ---- Reader ------------------------------------------------------------------------------------

int64_t Reader::i64() {
  int64_t v = 0;
  check(gp_in_i64(&in_, &v));
  return v;
}

uint64_t Reader::u64() {
  uint64_t v = 0;
  check(gp_in_u64(&in_, &v));
  return v;
}

uint32_t Reader::u32() {
  uint32_t v = 0;
  check(gp_in_u32(&in_, &v));
  return v;
}

double Reader::f64() {
  double v = 0;
  check(gp_in_f64(&in_, &v));
  return v;
}

bool Reader::boolean() {
  int v = 0;
  check(gp_in_bool(&in_, &v));
  return v != 0;
}

Bin Reader::bin() {
  const void *data = nullptr;
  uint32_t len = 0;
  check(gp_in_bin(&in_, &data, &len));
  return Bin{data, len};
}

std::string Reader::str() {
  const char *data = nullptr;
  uint32_t len = 0;
  check(gp_in_str(&in_, &data, &len));
  return std::string(data, len);
}

uint32_t Reader::array() {
  uint32_t n = 0;
  check(gp_in_array(&in_, &n));
  return n;
}

void Reader::finish() { check(gp_in_finish(&in_)); }

void Reader::skip_rest() { check(gp_in_skip_rest(&in_)); }

// ---- Writer ------------------------------------------------------------------------------------

namespace {
struct Spare {
  unsigned char *data = nullptr;
  size_t capacity = 0;
  ~Spare() { std::free(data); }
};
thread_local Spare spare;
}  // namespace

OutBuffer::OutBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  if (spare.capacity >= size) {
    data_ = spare.data;
    capacity_ = spare.capacity;
    spare.data = nullptr;
    spare.capacity = 0;
    return;
  }
  data_ = static_cast<unsigned char *>(std::malloc(size));
  if (data_ == nullptr) throw std::bad_alloc();
  capacity_ = size;
}

OutBuffer::~OutBuffer() {
  if (data_ == nullptr) return;
  if (capacity_ <= kSpareBytes && spare.capacity < capacity_) {
    std::free(spare.data);
    spare.data = data_;
    spare.capacity = capacity_;
    return;
  }
  std::free(data_);
}

// An out buffer this large is sent from where it is when it ends its reply (bin(OutBuffer&)).
constexpr size_t kTailBytes = size_t(256) << 10;

char *Writer::grow(size_t n) {
  settle_tail();
  size_t at = out_.size();
  out_.resize(at + n);
  return out_.data() + at;
}

bool Writer::begin_reply(const Call &call, CUresult rc) {
  if (call.seq == 0) {
    if (rc != CUDA_SUCCESS) s_.defer_error(rc);
    return false;
  }
  // Device printf flushed by this call (or since the last reply) goes first, so the job writes it
  // before the call returns (docs/protocol.md, "Output frames").
  s_.take_printf([this](const void *data, size_t size) { output_frame(data, size); });
  start_ = out_.size();
  open_ = true;
  // An array32 head (gp_frames.h), its count raised by end_reply as out values are written.
  gp_frame_reply head{call.seq, (uint32_t)rc};
  char *p = grow(gp_frame_reply_bound(&head));
  char *end = gp_frame_reply_encode32(p, &head);
  out_.resize(start_ + (size_t)(end - out_.data() - start_));
  count_ = gp_frame_reply_values(&head);
  return true;
}

void Writer::i64(int64_t v) {
  if (v >= 0) {
    u64((uint64_t)v);
    return;
  }
  mp_encode_int(grow(mp_sizeof_int(v)), v);
  count_++;
}

void Writer::u64(uint64_t v) {
  mp_encode_uint(grow(mp_sizeof_uint(v)), v);
  count_++;
}

void Writer::f64(double v) {
  mp_encode_double(grow(mp_sizeof_double(v)), v);
  count_++;
}

void Writer::bin(const void *data, size_t size) {
  if (size > std::numeric_limits<uint32_t>::max()) throw ProtocolError("reply buffer too large");
  char *p = mp_encode_binl(grow(mp_sizeof_bin((uint32_t)size)), (uint32_t)size);
  if (size > 0) std::memcpy(p, data, size);
  count_++;
}

void Writer::bin(OutBuffer &buffer) {
  if (tail_sink_ == nullptr || !*tail_sink_ || buffer.size() < kTailBytes) return bin(buffer.data(), buffer.size());
  if (buffer.size() > std::numeric_limits<uint32_t>::max()) throw ProtocolError("reply buffer too large");
  mp_encode_binl(grow(mp_sizeof_binl((uint32_t)buffer.size())), (uint32_t)buffer.size());
  count_++;
  tail_ = buffer.data();
  tail_size_ = buffer.size();
}

// A value written after an out buffer's bytes: they go into the reply first, in order.
void Writer::settle_tail() {
  if (tail_ == nullptr) return;
  const void *tail = tail_;
  tail_ = nullptr;
  std::memcpy(grow(tail_size_), tail, tail_size_);
}

void Writer::str(const char *s) {
  size_t len = std::strlen(s);
  if (len > std::numeric_limits<uint32_t>::max()) throw ProtocolError("reply string too large");
  mp_encode_str(grow(mp_sizeof_str((uint32_t)len)), s, (uint32_t)len);
  count_++;
}

void Writer::output_frame(const void *data, size_t size) {
  char *p = grow(1);
  p[0] = (char)0x93;  // fixarray of 3: [0, 1 (the job's stdout), bytes]
  mp_encode_uint(grow(mp_sizeof_uint(0)), 0);
  mp_encode_uint(grow(mp_sizeof_uint(1)), 1);
  char *b = mp_encode_binl(grow(mp_sizeof_bin((uint32_t)size)), (uint32_t)size);
  if (size > 0) std::memcpy(b, data, size);
}

void Writer::end_reply() {
  if (!open_) return;
  gp_frame_set_count32(out_.data() + start_, count_);
  open_ = false;
  if (tail_ == nullptr) return;
  (*tail_sink_)(out_, tail_, tail_size_);
  tail_ = nullptr;
}

}  // namespace gp
