// libFuzzer target: any bytes, walked as the stream of client frames the daemon's native reader
// (native/addon/connection.cc) takes apart with ws_frame.cc, under AddressSanitizer and UBSan. The
// input's first byte picks the message limit, so that 1009 refusals are reached too.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ws_frame.h"

using namespace gp::ws;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const uint64_t max_message = uint64_t(1) << (data[0] % 24);
  data++, size--;
  size_t at = 0;
  uint64_t message = 0;
  bool open = false;
  while (at < size) {
    FrameHead head;
    FrameError err;
    const Parse p = parse_head(data + at, size - at, max_message - message, head, err);
    if (p == Parse::kNeedMore) return 0;
    if (p == Parse::kError) {
      if (err.code != kProtocolError && err.code != kTooBig) abort();
      return 0;
    }
    if (head.head_bytes < 6 || head.head_bytes > 14 || head.head_bytes > size - at) abort();
    if (head.length > max_message - message) abort();
    at += head.head_bytes;
    if (head.length > size - at) return 0;  // the payload is still on its way
    // Unmasked from any offset, twice, the bytes are what they were.
    std::vector<uint8_t> payload(data + at, data + at + head.length);
    const size_t split = payload.empty() ? 0 : data[at] % payload.size();
    unmask(payload.data(), split, head.mask, 0);
    unmask(payload.data() + split, payload.size() - split, head.mask, split);
    std::vector<uint8_t> again(payload);
    unmask(again.data(), again.size(), head.mask, 0);
    if (!again.empty() && std::memcmp(again.data(), data + at, again.size()) != 0) abort();
    at += (size_t)head.length;
    if (head.opcode & 0x8) {
      if (head.length > 125 || !head.fin) abort();
      if (head.opcode == kClose) {
        uint16_t code;
        std::string reason;
        if (!parse_close(payload.data(), payload.size(), code, reason, err)) return 0;
        if (reason.size() + 2 != payload.size() && !(payload.empty() && code == kNoStatus)) abort();
        return 0;
      }
      continue;
    }
    if (head.opcode == kContinuation ? !open : open) return 0;  // the reader closes with 1002 here
    message += head.length;
    open = !head.fin;
    if (!open) message = 0;
  }
  // A server frame's head round-trips through the same parser once masked the client's way.
  uint8_t out[14];
  const size_t n = encode_head(out, kBinary, size);
  out[1] |= 0x80;
  std::memset(out + n, 0, 4);
  FrameHead head;
  FrameError err;
  if (parse_head(out, n + 4, UINT64_MAX, head, err) != Parse::kOk || head.length != size || head.head_bytes != n + 4) abort();
  return 0;
}
