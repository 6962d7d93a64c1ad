#include "wire.h"

#include <cstring>
#include <limits>

#include <msgpuck.h>

#include "session.h"

namespace gp {

namespace {

const char *type_name(int t) {
  switch (t) {
    case MP_NIL: return "nil";
    case MP_UINT: return "uint";
    case MP_INT: return "int";
    case MP_STR: return "str";
    case MP_BIN: return "bin";
    case MP_ARRAY: return "array";
    case MP_MAP: return "map";
    case MP_BOOL: return "bool";
    case MP_FLOAT: return "float";
    case MP_DOUBLE: return "double";
    case MP_EXT: return "ext";
    default: return "unknown";
  }
}

[[noreturn]] void wrong_type(const char *want, int got) {
  throw ProtocolError(std::string("expected ") + want + ", got " + type_name(got));
}

}  // namespace

// ---- Reader ------------------------------------------------------------------------------------

int Reader::next_type(const char *want) {
  if (left_ == 0 || p_ >= end_) throw ProtocolError(std::string("missing argument (expected ") + want + ")");
  left_--;
  return mp_typeof(*p_);
}

int64_t Reader::i64() {
  int t = next_type("int");
  if (t == MP_UINT) {
    uint64_t v = mp_decode_uint(&p_);
    if (v > (uint64_t)std::numeric_limits<int64_t>::max()) throw ProtocolError("integer out of range");
    return (int64_t)v;
  }
  if (t == MP_INT) return mp_decode_int(&p_);
  wrong_type("int", t);
}

uint64_t Reader::u64() {
  int t = next_type("uint");
  if (t == MP_UINT) return mp_decode_uint(&p_);
  if (t != MP_INT) wrong_type("uint", t);
  // A signed format holding a non-negative value is still that value (msgpackr writes BigInts so).
  int64_t v = mp_decode_int(&p_);
  if (v < 0) throw ProtocolError("expected uint, got a negative int");
  return (uint64_t)v;
}

uint32_t Reader::u32() {
  uint64_t v = u64();
  if (v > std::numeric_limits<uint32_t>::max()) throw ProtocolError("integer out of range for 32 bits");
  return (uint32_t)v;
}

double Reader::f64() {
  int t = next_type("float");
  switch (t) {
    case MP_FLOAT: return mp_decode_float(&p_);
    case MP_DOUBLE: return mp_decode_double(&p_);
    case MP_UINT: return (double)mp_decode_uint(&p_);
    case MP_INT: return (double)mp_decode_int(&p_);
    default: wrong_type("float", t);
  }
}

bool Reader::boolean() {
  int t = next_type("bool");
  if (t != MP_BOOL) wrong_type("bool", t);
  return mp_decode_bool(&p_);
}

Bin Reader::bin() {
  int t = next_type("bin");
  if (t != MP_BIN) wrong_type("bin", t);
  uint32_t len = 0;
  const char *data = mp_decode_bin(&p_, &len);
  return Bin{data, len};
}

std::string Reader::str() {
  int t = next_type("str");
  if (t != MP_STR) wrong_type("str", t);
  uint32_t len = 0;
  const char *data = mp_decode_str(&p_, &len);
  if (std::memchr(data, '\0', len) != nullptr) throw ProtocolError("string holds a NUL byte");
  return std::string(data, len);
}

uint32_t Reader::array() {
  int t = next_type("array");
  if (t != MP_ARRAY) wrong_type("array", t);
  uint32_t n = mp_decode_array(&p_);
  // gp_mp_check proved the frame holds all n elements, so the count cannot exceed what is there.
  left_ += n;
  return n;
}

void Reader::finish() const {
  if (left_ != 0) throw ProtocolError(std::to_string(left_) + " argument(s) too many");
}

void Reader::skip_rest() {
  while (left_ > 0) {
    if (p_ >= end_) throw ProtocolError("a call frame is shorter than its count");
    mp_next(&p_);
    left_--;
  }
}

// ---- Writer ------------------------------------------------------------------------------------

char *Writer::grow(size_t n) {
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
  count_ = 0;
  open_ = true;
  char *p = grow(5);
  p[0] = (char)0xdd;  // array32, its count patched by end_reply
  u64(call.seq);
  u64((uint64_t)rc);
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
  unsigned char *p = reinterpret_cast<unsigned char *>(out_.data() + start_ + 1);
  p[0] = (unsigned char)(count_ >> 24);
  p[1] = (unsigned char)(count_ >> 16);
  p[2] = (unsigned char)(count_ >> 8);
  p[3] = (unsigned char)count_;
  open_ = false;
}

}  // namespace gp
