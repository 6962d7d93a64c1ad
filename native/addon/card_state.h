// The cards' scheduling state in shared memory (docs/sharing.md, "Across processes"): one mapping
// (a memfd) that the daemon creates and hands to each session worker at its start, so that sessions
// in the daemon's threads and in worker processes are scheduled against each other by the same code,
// with no message to the daemon on the per-call path.
//
// Each card has a robust process-shared mutex (a process that dies holding it leaves it to the next
// locker, which finds the state as the dead one left it between two of its short updates), a futex
// word that waiters sleep on, and fixed slots, one per session on the card, tagged with the owner
// (the daemon: 0; a worker: the number the daemon gave it). The daemon frees a dead worker's slots
// when it sees the worker's end: a card it held is handed on, its device time stays counted.
#ifndef GPUPOOL_ADDON_CARD_STATE_H
#define GPUPOOL_ADDON_CARD_STATE_H

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gp {

// What a session is entitled to on a card; set from JS (request, tenant ceiling, schedule window).
struct SchedParams {
  double share = 0.25;  // (0, 1]: a weight under contention; a cap only with `limit`
  bool limit = false;
  int priority = 10;  // class * 10 + level: low 0-9, normal 10-19, high 20-29
  bool paused = false;  // a schedule window holds the class off the card
};

struct CardClientStats {
  uint64_t device_ns = 0;  // measured device time of its work
  uint64_t wait_ns = 0;    // time its work waited for the card
  uint64_t waits = 0;      // times it had to wait
  uint64_t slices = 0;     // times it held the card
};

// One session on one card; everything but `priority` is under the card's mutex.
struct CardSlot {
  uint32_t used;
  uint64_t owner;
  SchedParams params;
  bool waiting;
  bool owed_checked;  // this slice, an exact measure found no rival owed the card
  bool cancelled;
  std::atomic<int> priority;  // params.priority, read without the lock on every operation
  std::atomic<bool> restricted;  // params.paused or params.limit, read without the lock likewise
  double vtime;  // device ns per unit of share
  double credit_ns;
  uint64_t credit_at;
  CardClientStats stats;
};

struct SharedCard {
  // Enough for every session a card could take (the daemon's admission keeps far fewer): a session
  // that finds none free runs its work unscheduled and says so once (stderr).
  static constexpr int kSlots = 256;
  pthread_mutex_t mu;
  std::atomic<uint32_t> seq;       // bumped on every change a waiter may look for (futex word)
  std::atomic<uint32_t> sleepers;  // waiters asleep on seq: no wake syscall while there are none
  std::atomic<uint32_t> poke;      // a waiter wants an idle holder to look again (futex word)
  std::atomic<uint32_t> waiters;   // slots waiting: a lone holder's operations take no lock while none
  std::atomic<int32_t> holder;     // a slot, or -1; changed under the lock, read by its holder without
  uint64_t grant_ns;
  uint64_t measured_ns;  // when the holder's vtime was last exact
  uint64_t departed_ns;  // device time of the sessions gone
  std::atomic<int> max_priority;
  std::atomic<unsigned> n_at_max;  // clients at max_priority, read without the lock on every operation
  CardSlot slots[kSlots];
};

// The mapping of every card's state.
class CardStateMap {
 public:
  // A new state for `cards` cards, in a memfd of its own.
  explicit CardStateMap(size_t cards);
  // The state another process created, from its memfd (checked: size, layout version, card count;
  // `cards` 0: as many as the mapping holds).
  CardStateMap(int fd, size_t cards);
  ~CardStateMap();
  CardStateMap(const CardStateMap &) = delete;
  CardStateMap &operator=(const CardStateMap &) = delete;

  SharedCard *card(size_t i) const { return i < cards_ ? &base_->cards[i] : nullptr; }
  size_t size() const { return cards_; }
  // The memfd, for a worker to map (the daemon passes it at spawn).
  int fd() const { return fd_; }

 private:
  struct Layout {
    uint32_t magic;
    uint32_t version;
    uint64_t count;
    SharedCard cards[1];
  };
  static size_t bytes(size_t cards) { return offsetof(Layout, cards) + cards * sizeof(SharedCard); }
  void map(size_t cards);
  int fd_ = -1;
  size_t cards_ = 0;
  Layout *base_ = nullptr;
};

// The card's mutex, as a BasicLockable: a lock whose owner died is taken over and made consistent.
class CardLock {
 public:
  explicit CardLock(SharedCard *card) : card_(card) {}
  void lock();
  void unlock() { pthread_mutex_unlock(&card_->mu); }
  // For the daemon's JS thread, which must never wait on a process that is stopped holding the lock
  // (a hung worker: the daemon's own watchdog on that thread ends it).
  bool try_lock_for(uint64_t ns);

 private:
  SharedCard *card_;
};

// The card's state changed: waiters asleep on it look again.
void card_changed(SharedCard *card);
// Sleeps until the card's state changes from `seen` (seq as read under the lock), or for at most
// `timeout_ns`; called without the lock.
void card_wait(SharedCard *card, uint32_t seen, uint64_t timeout_ns);
// Futex primitives on a word that may be shared between processes.
void futex_wake_all(std::atomic<uint32_t> *word);
void futex_wait(std::atomic<uint32_t> *word, uint32_t seen, uint64_t timeout_ns);

}  // namespace gp

#endif
