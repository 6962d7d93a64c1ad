// The generated op table and the frame loop (dispatch.cc, which includes build/gen/addon_ops.inc).
#ifndef GPUPOOL_ADDON_DISPATCH_H
#define GPUPOOL_ADDON_DISPATCH_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "wire.h"

namespace gp {

class Session;

// The op's row of the table, or nullptr for a number that is no op.
const OpInfo *op_info(uint32_t op);
// One past the highest op number (GP_OP_COUNT).
uint32_t op_count();
// GP_PROTOCOL_DIGEST of the table this addon was generated from.
const char *protocol_digest();

// Runs every call frame of one client message, appending the replies it produces to `out`;
// after_frame (if any) runs after each frame, and may take what `out` holds so far (a message of
// many copies must not gather all their data in one reply). Throws ProtocolError (the session must
// close) at the first frame that breaks the protocol.
// tail_sink (if any): where a reply that ends with a large out buffer goes (Writer::bin(OutBuffer&)).
void process_message(Session &s, const char *data, size_t size, Output &out,
                     const std::function<void()> &after_frame = nullptr, const TailSink *tail_sink = nullptr);

}  // namespace gp

#endif
