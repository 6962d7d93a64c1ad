// What the card scheduler's lock costs a call (docs/benchmarks.md, "Issue 13: the card scheduler
// across processes"): a lone client takes its card's lock once per operation (CardClient::begin),
// never waits and makes no syscall. Measured here, uncontended, on one thread: the std::mutex the
// scheduler used while its state was per process, and the robust process-shared mutex of the shared
// card state (native/addon/card_state.cc) in a memfd mapping, as a session worker takes it.
//   card_lock [ITERATIONS]   prints one JSON line: ns per lock+unlock of each
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "card_state.h"

template <typename F>
double ns_per(long n, F f) {
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; i++) f();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / (double)n;
}

int main(int argc, char **argv) {
  const long n = argc > 1 ? atol(argv[1]) : 10'000'000;
  std::mutex mu;
  gp::CardStateMap state(1);
  gp::CardLock lock(state.card(0));
  volatile long sink = 0;
  // Each twice, the first a warm-up.
  double plain = 0, shared = 0;
  for (int round = 0; round < 2; round++) {
    plain = ns_per(n, [&] {
      std::lock_guard<std::mutex> g(mu);
      sink = sink + 1;
    });
    shared = ns_per(n, [&] {
      std::lock_guard<gp::CardLock> g(lock);
      sink = sink + 1;
    });
  }
  printf("{\"iterations\":%ld,\"stdMutexNs\":%.2f,\"sharedRobustNs\":%.2f}\n", n, plain, shared);
  return 0;
}
