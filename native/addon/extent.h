// How much device memory a call touches from a pointer (docs/security.md, "Bounds checks"), computed
// from the client's arguments without ever wrapping around: the generated dispatcher builds one from
// each device pointer's annotation in src/protocol/cuda-api.ts, and Session::check_device compares it
// with the session's allocations. An extent whose arithmetic overflows lies in no allocation.
#ifndef GPUPOOL_ADDON_EXTENT_H
#define GPUPOOL_ADDON_EXTENT_H

#include <cstdint>

namespace gp {

class Extent {
 public:
  // Implicit, so that an annotation's arithmetic reads as C: `Extent(N) * 4`.
  Extent(uint64_t bytes) : bytes_(bytes) {}  // NOLINT(google-explicit-constructor)

  // An extent the call does not state: the pointer must point into an allocation.
  static Extent inside() { return Extent(0, kInside); }
  // `height` rows of `width` bytes, `pitch` bytes apart: (height - 1) * pitch + width; nothing when
  // either is zero.
  static Extent rows(Extent pitch, Extent width, Extent height) {
    if ((width.exact() && width.bytes_ == 0) || (height.exact() && height.bytes_ == 0)) return Extent(0);
    return (height - 1) * pitch + width;
  }

  bool overflowed() const { return state_ == kOverflow; }
  bool unknown() const { return state_ == kInside; }
  // A stated number of bytes (neither unknown nor overflowed).
  bool exact() const { return state_ == kExact; }
  uint64_t bytes() const { return bytes_; }

  friend Extent operator+(Extent a, Extent b) {
    uint64_t v = 0;
    if (!a.exact() || !b.exact() || __builtin_add_overflow(a.bytes_, b.bytes_, &v)) return overflow();
    return Extent(v);
  }
  friend Extent operator-(Extent a, Extent b) {
    uint64_t v = 0;
    if (!a.exact() || !b.exact() || __builtin_sub_overflow(a.bytes_, b.bytes_, &v)) return overflow();
    return Extent(v);
  }
  friend Extent operator*(Extent a, Extent b) {
    uint64_t v = 0;
    if (!a.exact() || !b.exact() || __builtin_mul_overflow(a.bytes_, b.bytes_, &v)) return overflow();
    return Extent(v);
  }

 private:
  enum State { kExact, kInside, kOverflow };
  Extent(uint64_t bytes, State state) : bytes_(bytes), state_(state) {}
  static Extent overflow() { return Extent(0, kOverflow); }

  uint64_t bytes_;
  State state_ = kExact;
};

}  // namespace gp

#endif
