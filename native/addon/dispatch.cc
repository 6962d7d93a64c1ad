// The frame loop: one client message in, its replies out (docs/protocol.md, "Calls" and "Modes").
#include "dispatch.h"

#include <string>

#include <cuda.h>
#include <cudaTypedefs.h>
#include <msgpuck.h>

#include "gp_frames.h"
#include "gp_ops.h"
#include "handlers.h"
#include "mp_check.h"
#include "session.h"
#include "shared_memory.h"
#include "wire.h"

namespace gp {

// kProtocolDigest, kOps[] and dispatch_op(), generated from src/protocol/cuda-api.ts.
#include "addon_ops.inc"

static_assert(sizeof kOps / sizeof kOps[0] == GP_OP_COUNT, "kOps has a row per op and one for 0");

const OpInfo *op_info(uint32_t op) { return op > 0 && op < GP_OP_COUNT ? &kOps[op] : nullptr; }

uint32_t op_count() { return GP_OP_COUNT; }

const char *protocol_digest() { return kProtocolDigest; }

namespace {

void reply_result(Writer &w, const Call &call, CUresult rc) {
  if (w.begin_reply(call, rc)) w.end_reply();
}

// One frame [op, seq, ctx, args...] from p (checked whole up to frame_end).
void run_frame(Session &s, Writer &w, const char *&p, const char *frame_end) {
  gp_in in;
  if (gp_in_open(&in, p, frame_end) != 0) throw ProtocolError("a call frame must be an array");
  // The head, by the codec generated from src/protocol/frames.ts; the op's arguments follow.
  gp_frame_call head{};
  if (gp_frame_call_decode(&in, &head) != 0) throw ProtocolError(in.err);
  Reader r(in.p, frame_end, in.left);
  // gpupool's own frames (the local transport's shared memory) have ops of their own, outside the table.
  const bool own = is_shared_memory_op(head.op);
  const OpInfo *info = head.op <= UINT32_MAX && !own ? op_info((uint32_t)head.op) : nullptr;
  if (info == nullptr && !own) throw ProtocolError("unknown operation " + std::to_string(head.op));
  Call call{(uint32_t)head.op, head.seq, head.ctx};
  const bool sync = own ? head.seq != 0 : info->mode == GP_MODE_SYNC;
  s.count_call(!sync);
  // A region frame is no CUDA call: it always runs (its descriptor came with it), and a pending error
  // waits for the next call.
  const bool answers_error = sync && head.op != GP_OP_SHM_REGION && head.op != GP_OP_SHM_RING;

  try {
    // A fire-and-forget call failed earlier: this synchronous call answers with that error instead
    // of running, as CUDA reports a launch's failure at the next synchronising call.
    if (answers_error && s.deferred_error() != CUDA_SUCCESS) {
      r.skip_rest();
      reply_result(w, call, s.take_deferred_error());
    } else {
      if (!own) s.set_call_per_thread(info->per_thread != 0);
      CUresult rc = s.make_current(call.ctx);
      // A card that went bad answers its error without reaching the driver (Session::poison).
      if (rc == CUDA_SUCCESS) rc = s.poisoned_current();
      if (rc != CUDA_SUCCESS) {
        r.skip_rest();
        reply_result(w, call, rc);
      } else {
        if (own)
          run_shared_memory_frame(s, r, w, call, head.op);
        else
          dispatch_op(s, r, w, call);
        r.finish();
      }
    }
  } catch (const ProtocolError &e) {
    throw ProtocolError(std::string(own ? "a shared memory frame" : info->name) + " (op " + std::to_string(head.op) + ", seq " + std::to_string(call.seq) + "): " + e.what());
  }
  p = r.position();
}

}  // namespace

void process_message(Session &s, const char *data, size_t size, Output &out, const std::function<void()> &after_frame, const TailSink *tail_sink) {
  s.count_message();
  Writer w(s, out, tail_sink);
  const char *p = data, *end = data + size;
  while (p < end) {
    const char *frame_end = p;
    // The whole frame, nested values included, lies inside the message: reads cannot run past it.
    if (gp_mp_check(&frame_end, end) != 0) throw ProtocolError("a call frame is truncated or not msgpack");
    run_frame(s, w, p, frame_end);
    if (p != frame_end) throw ProtocolError("a call frame was not read to its end");
    if (after_frame && !out.empty()) after_frame();  // it looks at the replies: none, nothing to do
  }
}

}  // namespace gp
