// libFuzzer target: any bytes as the shared memory of a call ring (native/common/call_ring_layout.h),
// read the way the session reads a hostile client's request ring, under AddressSanitizer and UBSan.
// The first byte picks the ring's capacity (and whether the head lies near the start), the next eight the producer's head; the rest fills the
// ring's bytes. Every record the reader accepts must lie inside the ring, and the reader never goes
// past the head it read.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "call_ring_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 9) return 0;
  const uint8_t pick = data[0];
  const uint64_t cap = uint64_t(GP_RING_MIN_CAP) << (pick % 3);
  uint64_t head;
  std::memcpy(&head, data + 1, sizeof head);
  data += 9, size -= 9;
  // The ring's words and bytes in one allocation, exactly its size: ASan sees any read past it.
  std::vector<uint8_t> ring((size_t)gp_ring_bytes(cap));
  std::memcpy(ring.data() + GP_RING_HEADER, data, std::min<size_t>(size, (size_t)cap));
  gp_ring_dir req, rep;
  gp_ring_dirs(ring.data(), cap, &req, &rep);
  // Heads near the start, or anywhere: the reader must refuse what is past the ring either way.
  *req.head = (pick & 0x80) ? head % (2 * cap) : head;
  uint64_t tail = 0;
  for (int i = 0; i < 4096; i++) {
    gp_ring_rec rec;
    const int found = gp_ring_peek(&req, tail, &rec);
    if (found != GP_RING_FOUND) return 0;
    if (rec.payload < req.data + 8 || rec.payload + rec.len > req.data + cap) abort();
    if (rec.len > gp_ring_max_payload(cap) || rec.next_tail <= tail || rec.next_tail - tail > cap) abort();
    if (rec.next_tail > *req.head) abort();
    if (rec.kind != GP_RING_MSG && rec.kind != GP_RING_SOCKET) abort();
    volatile uint8_t sink = 0;
    for (uint32_t j = 0; j < rec.len; j++) sink ^= rec.payload[j];
    (void)sink;
    tail = rec.next_tail;
    gp_ring_consumed(&req, tail);
  }
  return 0;
}
