// A session's stats, its connection's figures and the emulated driver's counters, as the daemon's
// JavaScript sees them (SessionStats, ConnectionFigures and EmuStats in src/compute/native.ts), written once for both ends that carry them:
// the addon builds an N-API object of them (addon.cc), the session worker JSON for its control
// channel (native/worker/main.cc). Each passes a writer with
//   number(key, double), flag(key, bool), numbers(key, const std::vector<T> &),
//   objects(key, count, fn(writer &, index))   (an array of objects, fn fills each)
#ifndef GPUPOOL_SESSION_STATS_H
#define GPUPOOL_SESSION_STATS_H

#include "connection.h"
#include "driver.h"
#include "session.h"

namespace gp {

template <class W>
void write_session_stats(W &w, const SessionStats &s) {
  w.number("calls", (double)s.calls);
  w.number("asyncCalls", (double)s.async_calls);
  w.number("messages", (double)s.messages);
  w.number("handles", (double)s.handles);
  w.number("contexts", (double)s.contexts);
  w.number("allocations", (double)s.allocations);
  w.number("allocatedBytes", (double)s.allocated_bytes);
  w.number("deferredError", s.deferred_error);
  w.number("refusals", (double)s.refusals);
  w.number("sharedMemoryRegions", (double)s.shared_regions);
  w.number("sharedMemoryBytes", (double)s.shared_bytes);
  w.number("sharedCopies", (double)s.shared_copies);
  w.flag("callRing", s.call_ring);
  w.numbers("quota", s.quota);
  w.numbers("used", s.used);
  w.numbers("poisoned", s.poisoned);
  w.objects("sched", s.sched.size(), [&s](W &c, size_t i) {
    c.number("deviceNs", (double)s.sched[i].device_ns);
    c.number("waitNs", (double)s.sched[i].wait_ns);
    c.number("waits", (double)s.sched[i].waits);
    c.number("slices", (double)s.sched[i].slices);
  });
}

template <class W>
void write_emu_counters(W &w, const Driver::EmuCounters &counters) {
  // The no-op kernel mode is named wherever its figures appear (docs/emulator.md): a flag, not a count.
  for (const auto &c : counters) {
    if (c.first == "noopKernels") w.flag(c.first.c_str(), c.second != 0);
    else w.number(c.first.c_str(), (double)c.second);
  }
}

template <class W>
void write_connection_figures(W &w, const Connection::Figures &f) {
  w.number("idleMs", (double)f.idle_ms);
  w.flag("paused", f.paused);
  w.number("pauses", (double)f.pauses);
  w.number("bytesIn", (double)f.bytes_in);
  w.number("bytesOut", (double)f.bytes_out);
}

}  // namespace gp

#endif
