// cuLinkComplete as the client sends it (docs/protocol.md, "Hand-encoded calls"): every input of a link
// the client gathered, linked here by the driver in the current context, in one call. The link lives
// only for the frame; the image and the driver's logs go back in the reply. Only options whose value
// is a plain number arrive (native/common/jit_options.h); the daemon gives the driver log buffers of its
// own, so no pointer the client sent is ever followed.
#include <cudaTypedefs.h>

#include <cstring>
#include <string>
#include <vector>

#include "handlers.h"
#include "jit_options.h"

namespace gp {
namespace handlers {

namespace {

constexpr uint32_t kMaxInputs = 1024;
constexpr uint32_t kMaxOptions = 64;

struct Options {
  std::vector<CUjit_option> option;
  std::vector<void *> value;
};

Options read_options(Reader &r) {
  Options o;
  uint32_t n = r.array();
  if (n > kMaxOptions) throw ProtocolError("a link carries at most 64 options per list");
  for (uint32_t i = 0; i < n; i++) {
    if (r.array() != 2) throw ProtocolError("a link option is [option, value]");
    uint32_t option = r.u32();
    uint64_t value = r.u64();
    if (!gp_jit_option_is_value((int)option)) throw ProtocolError("a link option must be one whose value is a number");
    o.option.push_back((CUjit_option)option);
    o.value.push_back(reinterpret_cast<void *>((uintptr_t)value));
  }
  return o;
}

struct Input {
  CUjitInputType type;
  std::string name;
  Bin data;
  Options options;
};

}  // namespace

void link_complete(Session &s, const gp_frame_link &f, Reader &r, Writer &w, const Call &call, uint32_t op) {
  (void)op;
  Options options = read_options(r);
  uint32_t count = r.array();
  if (count > kMaxInputs) throw ProtocolError("a link carries at most 1024 inputs");
  std::vector<Input> inputs(count);
  for (Input &in : inputs) {
    if (r.array() != 4) throw ProtocolError("a link input is [type, name, data, options]");
    uint32_t type = r.u32();
    if (type >= CU_JIT_NUM_INPUT_TYPES) throw ProtocolError("a link input's type is unknown");
    in.type = (CUjitInputType)type;
    in.name = r.str();
    in.data = r.bin();
    in.options = read_options(r);
  }
  r.finish();
  // Each at most GP_JIT_LOG_MAX, checked by the frame's codec.
  static_assert(GP_FRAME_LINK_INFO_BYTES_MAX == GP_JIT_LOG_MAX && GP_FRAME_LINK_ERROR_BYTES_MAX == GP_JIT_LOG_MAX, "frames.ts");
  uint64_t info_bytes = f.info_bytes, error_bytes = f.error_bytes;

  // The daemon's own log buffers, always NUL-terminated for the reply.
  std::vector<char> info(info_bytes + 1, '\0'), error(error_bytes + 1, '\0');
  float wall = 0;
  options.option.insert(options.option.end(), {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                                               CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_WALL_TIME});
  options.value.insert(options.value.end(), {info.data(), reinterpret_cast<void *>((uintptr_t)info_bytes), error.data(),
                                             reinterpret_cast<void *>((uintptr_t)error_bytes), nullptr});
  const Driver::Api &api = s.driver().api();
  CUlinkState link = nullptr;
  // Destroyed however the frame ends (a reply too large for the session throws).
  struct Guard {
    const Driver::Api &api;
    CUlinkState &link;
    ~Guard() {
      if (link != nullptr) api.linkDestroy(link);
    }
  } guard{api, link};
  CUresult rc = api.linkCreate((unsigned)options.option.size(), options.option.data(), options.value.data(), &link);
  for (size_t i = 0; rc == CUDA_SUCCESS && i < inputs.size(); i++) {
    Input &in = inputs[i];
    rc = api.linkAddData(link, in.type, const_cast<void *>(in.data.data), in.data.size, in.name.c_str(), (unsigned)in.options.option.size(),
                         in.options.option.empty() ? nullptr : in.options.option.data(), in.options.value.empty() ? nullptr : in.options.value.data());
  }
  void *image = nullptr;
  size_t size = 0;
  if (rc == CUDA_SUCCESS) rc = api.linkComplete(link, &image, &size);
  // The driver wrote the wall time over the option's value slot (the last option).
  if (link != nullptr) std::memcpy(&wall, &options.value.back(), sizeof wall);
  if (rc == CUDA_SUCCESS) size = s.checked_size(size);
  // The link's result is an out value, so that its logs travel back whether it succeeded or not.
  if (w.begin_reply(call, CUDA_SUCCESS)) {
    w.i64(rc);
    w.u64(rc == CUDA_SUCCESS ? size : 0);
    w.bin(rc == CUDA_SUCCESS ? image : nullptr, rc == CUDA_SUCCESS ? size : 0);
    w.f64(wall);
    info[info_bytes] = error[error_bytes] = '\0';
    w.str(info.data());
    w.str(error.data());
    w.end_reply();
  }
}

}  // namespace handlers
}  // namespace gp
