// The msgpack side of the compute protocol (docs/protocol.md, "Calls"): a reader over one call
// frame's arguments and a writer of reply frames. Both are what the generated dispatcher
// (build/gen/addon_ops.inc) calls; every value is type-checked, and anything that is not what the op
// table says is a ProtocolError, which closes the session.
#ifndef GPUPOOL_ADDON_WIRE_H
#define GPUPOOL_ADDON_WIRE_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <cuda.h>

#include "frame_in.h"

namespace gp {

class Session;

// An allocator whose vectors leave the bytes they grow by uninitialised: every byte of a reply is
// written right after it is made room for, and zeroing a copy's megabytes first was one more pass.
template <class T>
struct NoInit : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = NoInit<U>;
  };
  NoInit() = default;
  template <class U>
  NoInit(const NoInit<U> &) noexcept {}
  template <class U>
  void construct(U *p) noexcept(std::is_nothrow_default_constructible<U>::value) {
    ::new (static_cast<void *>(p)) U;
  }
  template <class U, class... Args>
  void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
};

// The replies a message's calls produce, written as one or more WebSocket messages.
using Output = std::vector<char, NoInit<char>>;

// The host memory a call's out buffer is filled in (a device-to-host copy's slice) before the
// reply takes it. The thread keeps one spare of up to kSpareBytes for the next call, so that a
// copy's 16 MiB are neither faulted in afresh nor zeroed on every slice.
class OutBuffer {
 public:
  static constexpr size_t kSpareBytes = size_t(16) << 20;
  explicit OutBuffer(size_t size);
  ~OutBuffer();
  OutBuffer(const OutBuffer &) = delete;
  OutBuffer &operator=(const OutBuffer &) = delete;
  unsigned char *data() { return data_; }
  size_t size() const { return size_; }

 private:
  unsigned char *data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
};

// A frame that is not what the op table says. The session closes with this message as its reason.
class ProtocolError : public std::runtime_error {
 public:
  explicit ProtocolError(const std::string &what) : std::runtime_error(what) {}
};

// One row of the generated op table (kOps in addon_ops.inc).
struct OpInfo {
  const char *name;  // the driver's name without its _vN suffix, as cuGetProcAddress takes it
  int version;       // the variant's version, as cuGetProcAddress takes it
  int per_thread;    // 1: the _ptsz entry point (CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
  int mode;          // enum gp_mode
};

// The three values every frame starts with.
struct Call {
  uint32_t op;
  uint64_t seq;  // 0: fire-and-forget, no reply
  uint64_t ctx;  // the session's id of the context to run in; 0: none
};

// An input buffer, pointing into the client's message (valid while that message is processed).
struct Bin {
  const void *data;
  size_t size;
};

// Reads the values of one frame, in order: native/common/frame_in.h (shared with the client library
// and the generated frame codecs, build/gen/gp_frames.c), with each failure thrown as a ProtocolError.
// The frame was checked whole (gp_mp_check) before, so reads never run past it.
class Reader {
 public:
  // p: the first value after the array header; end: the end of the frame; count: values in it.
  Reader(const char *p, const char *end, uint32_t count) { gp_in_init(&in_, p, end, count); }

  int64_t i64();
  uint64_t u64();
  // u64() that must fit 32 bits (grid and block sizes).
  uint32_t u32();
  double f64();  // float, double, or an integer (msgpack writers shorten integral floats)
  bool boolean();
  Bin bin();
  std::string str();
  // A nested array's header: its elements become values still to read, in place.
  uint32_t array();
  // Throws when values are left: an op read fewer arguments than the frame holds.
  void finish();
  // Steps over whatever is left of the frame (a call not run: unknown context, pending error).
  void skip_rest();
  // A whole frame of src/protocol/frames.ts, by its generated decoder (gp_frame_<name>_decode).
  template <typename Frame>
  void decode(int (*decoder)(gp_in *, Frame *), Frame *frame) {
    check(decoder(&in_, frame));
  }

  uint32_t left() const { return in_.left; }
  const char *position() const { return in_.p; }
  gp_in *in() { return &in_; }

 private:
  void check(int rc) const {
    if (rc != 0) throw ProtocolError(in_.err);
  }
  gp_in in_;
};

// Sends what `out` holds and then `size` bytes at `tail` as one message, and empties `out`: a
// device-to-host copy's bytes go from its out buffer to the socket without a pass into the reply.
using TailSink = std::function<void(Output &out, const void *tail, size_t size)>;

// Appends reply frames [seq, result, outs...] to a message's output.
class Writer {
 public:
  Writer(Session &s, Output &out, const TailSink *tail_sink = nullptr) : s_(s), out_(out), tail_sink_(tail_sink) {}

  // For seq 0 there is no reply: a failure becomes the session's deferred error and this returns
  // false. Otherwise starts [seq, rc, ...] (its length patched by end_reply) and returns true.
  bool begin_reply(const Call &call, CUresult rc);
  void i64(int64_t v);
  void u64(uint64_t v);
  void f64(double v);
  void bin(const void *data, size_t size);
  // An out buffer's bytes, which stay valid until end_reply: with a tail sink, a large one that ends
  // the reply is sent from where it is (TailSink); otherwise copied into the reply as bin() does.
  void bin(OutBuffer &buffer);
  void str(const char *s);
  void end_reply();
  // An output frame [0, 1, bytes]: device printf for the job's stdout (not a reply: seq 0).
  void output_frame(const void *data, size_t size);

 private:
  char *grow(size_t n);
  void settle_tail();
  Session &s_;
  Output &out_;
  const TailSink *tail_sink_;
  const void *tail_ = nullptr;  // bin(OutBuffer&)'s bytes not yet in out_
  size_t tail_size_ = 0;
  size_t start_ = 0;
  uint32_t count_ = 0;
  bool open_ = false;
};

}  // namespace gp

#endif
