// The server's half of RFC 6455 framing, with no I/O: a client frame's head parsed and checked, a
// payload unmasked a word at a time, a server frame's head encoded. connection.cc does the reading
// and writing; the fuzzer (native/addon/fuzz) feeds this parser raw bytes.
#ifndef GPUPOOL_ADDON_WS_FRAME_H
#define GPUPOOL_ADDON_WS_FRAME_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace gp {
namespace ws {

enum Opcode : uint8_t { kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA };

// RFC 6455 status codes the reader sends.
constexpr uint16_t kNormal = 1000;
constexpr uint16_t kNoStatus = 1005;
constexpr uint16_t kAbnormal = 1006;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kTooBig = 1009;

struct FrameHead {
  bool fin = false;
  uint8_t opcode = 0;
  uint8_t mask[4] = {0, 0, 0, 0};
  uint64_t length = 0;
  size_t head_bytes = 0;  // what the head took of the stream
};

// A frame that breaks the protocol: the status code and reason the connection closes with.
struct FrameError {
  uint16_t code = 0;
  std::string reason;
};

enum class Parse { kNeedMore, kOk, kError };

// Parses the head at p[0..n). kNeedMore: the head is longer than n. kError: `err` says why (an
// unmasked frame, reserved bits, an unknown opcode, a control frame fragmented or over 125 bytes, a
// payload over max_payload). Continuation rules are the caller's: it knows whether a message is open.
Parse parse_head(const uint8_t *p, size_t n, uint64_t max_payload, FrameHead &head, FrameError &err);

// XORs p[0..n) with the mask, where p[0] is byte `offset` of the frame's payload.
void unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

// A server frame's head (FIN set, unmasked) for a payload of `length` bytes; returns its size (<= 10).
size_t encode_head(uint8_t out[10], uint8_t opcode, uint64_t length);

// Checks a close frame's payload (already unmasked): its status code (kNoStatus when empty) and
// reason; false with err set when the payload is one byte or the code is not one a peer may send.
bool parse_close(const uint8_t *p, size_t n, uint16_t &code, std::string &reason, FrameError &err);

}  // namespace ws
}  // namespace gp

#endif
