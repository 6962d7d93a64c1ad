#include "ws_frame.h"

#include <cstring>

namespace gp {
namespace ws {

namespace {

bool is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

Parse fail(FrameError &err, uint16_t code, const char *reason) {
  err.code = code;
  err.reason = reason;
  return Parse::kError;
}

}  // namespace

Parse parse_head(const uint8_t *p, size_t n, uint64_t max_payload, FrameHead &head, FrameError &err) {
  if (n < 2) return Parse::kNeedMore;
  head.fin = (p[0] & 0x80) != 0;
  head.opcode = p[0] & 0x0f;
  // No extension is negotiated (permessage-deflate is off), so every reserved bit must be clear.
  if ((p[0] & 0x70) != 0) return fail(err, kProtocolError, "RSV1, RSV2 and RSV3 must be clear");
  switch (head.opcode) {
    case kContinuation: case kText: case kBinary: case kClose: case kPing: case kPong: break;
    default: return fail(err, kProtocolError, "invalid opcode");
  }
  if ((p[1] & 0x80) == 0) return fail(err, kProtocolError, "MASK must be set");
  const uint8_t len7 = p[1] & 0x7f;
  if (is_control(head.opcode)) {
    if (!head.fin) return fail(err, kProtocolError, "FIN must be set");
    if (len7 > 125) return fail(err, kProtocolError, "invalid payload length");
  }
  size_t at = 2;
  uint64_t length = len7;
  if (len7 == 126) {
    if (n < at + 2) return Parse::kNeedMore;
    length = (uint64_t(p[2]) << 8) | p[3];
    at += 2;
  } else if (len7 == 127) {
    if (n < at + 8) return Parse::kNeedMore;
    length = 0;
    for (int i = 0; i < 8; i++) length = (length << 8) | p[2 + i];
    at += 8;
    if (length >> 63) return fail(err, kTooBig, "payload length too large");
  }
  if (n < at + 4) return Parse::kNeedMore;
  std::memcpy(head.mask, p + at, 4);
  at += 4;
  if (length > max_payload) return fail(err, kTooBig, "Max payload size exceeded");
  head.length = length;
  head.head_bytes = at;
  return Parse::kOk;
}

void unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  // A zero key (the client library's bulk payloads, native/shim/ws.c says why) changes nothing: no pass.
  if ((mask[0] | mask[1] | mask[2] | mask[3]) == 0) return;
  // The mask rotated so that its first byte lines up with p[0], then eight bytes per step.
  uint8_t m[4];
  for (int i = 0; i < 4; i++) m[i] = mask[(offset + i) & 3];
  size_t i = 0;
  if (n >= 8) {
    uint64_t word;
    uint8_t w[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
    std::memcpy(&word, w, 8);
    for (; i + 8 <= n; i += 8) {
      uint64_t v;
      std::memcpy(&v, p + i, 8);
      v ^= word;
      std::memcpy(p + i, &v, 8);
    }
  }
  for (; i < n; i++) p[i] ^= m[i & 3];
}

size_t encode_head(uint8_t out[10], uint8_t opcode, uint64_t length) {
  out[0] = uint8_t(0x80 | opcode);
  if (length < 126) {
    out[1] = uint8_t(length);
    return 2;
  }
  if (length <= 0xffff) {
    out[1] = 126;
    out[2] = uint8_t(length >> 8);
    out[3] = uint8_t(length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = uint8_t(length >> (56 - 8 * i));
  return 10;
}

bool parse_close(const uint8_t *p, size_t n, uint16_t &code, std::string &reason, FrameError &err) {
  if (n == 0) {
    code = kNoStatus;
    reason.clear();
    return true;
  }
  if (n == 1) {
    err = {kProtocolError, "invalid payload length 1"};
    return false;
  }
  code = uint16_t((p[0] << 8) | p[1]);
  // The codes a peer may send (RFC 6455 7.4): 1000-1003, 1007-1014, and 3000-4999.
  const bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  if (!valid) {
    err = {kProtocolError, "invalid status code " + std::to_string(code)};
    return false;
  }
  reason.assign(reinterpret_cast<const char *>(p + 2), n - 2);
  return true;
}

}  // namespace ws
}  // namespace gp
