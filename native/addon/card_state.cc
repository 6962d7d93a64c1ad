#include "card_state.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

namespace gp {

namespace {

constexpr uint32_t kMagic = 0x67707363;  // "gpsc"
// Changes whenever SharedCard's layout does: a worker of another build refuses the mapping.
constexpr uint32_t kVersion = 1 + (uint32_t)sizeof(SharedCard) * 0x10000u;

long futex(std::atomic<uint32_t> *word, int op, uint32_t val, const timespec *timeout) {
  // Not FUTEX_PRIVATE: the word is shared between processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, val, timeout, nullptr, 0);
}

}  // namespace

CardStateMap::CardStateMap(size_t cards) {
  fd_ = memfd_create("gpupool-cards", MFD_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  if (ftruncate(fd_, (off_t)bytes(cards)) != 0) {
    int e = errno;
    close(fd_);
    throw std::system_error(e, std::generic_category(), "ftruncate");
  }
  map(cards);
  base_->magic = kMagic;
  base_->version = kVersion;
  base_->count = cards;
  for (size_t i = 0; i < cards; i++) {
    SharedCard *c = new (&base_->cards[i]) SharedCard();
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&c->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    c->holder = -1;
    c->max_priority.store(-1);
  }
}

CardStateMap::CardStateMap(int fd, size_t cards) : fd_(fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) throw std::system_error(errno, std::generic_category(), "card state: fstat");
  if (cards == 0 && (size_t)st.st_size > bytes(0)) cards = ((size_t)st.st_size - bytes(0)) / sizeof(SharedCard);
  if ((size_t)st.st_size != bytes(cards)) throw std::runtime_error("card state: the mapping is not the size of " + std::to_string(cards) + " cards");
  map(cards);
  if (base_->magic != kMagic || base_->version != kVersion || base_->count != cards) {
    munmap(base_, bytes(cards));
    base_ = nullptr;
    throw std::runtime_error("card state: the mapping is of another layout (a worker of another build?)");
  }
}

void CardStateMap::map(size_t cards) {
  void *p = mmap(nullptr, bytes(cards), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "card state: mmap");
  base_ = static_cast<Layout *>(p);
  cards_ = cards;
}

CardStateMap::~CardStateMap() {
  if (base_ != nullptr) munmap(base_, bytes(cards_));
  if (fd_ >= 0) close(fd_);
}

void CardLock::lock() {
  int rc = pthread_mutex_lock(&card_->mu);
  // Its owner died between two short updates: the state is as it left it, and the daemon frees its
  // slots when it sees the process's end.
  if (rc == EOWNERDEAD) pthread_mutex_consistent(&card_->mu);
  else if (rc != 0) throw std::system_error(rc, std::generic_category(), "card lock");
}

bool CardLock::try_lock_for(uint64_t ns) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t end = (uint64_t)ts.tv_sec * 1'000'000'000ULL + (uint64_t)ts.tv_nsec + ns;
  ts = timespec{(time_t)(end / 1'000'000'000ULL), (long)(end % 1'000'000'000ULL)};
  int rc = pthread_mutex_clocklock(&card_->mu, CLOCK_MONOTONIC, &ts);
  if (rc == EOWNERDEAD) pthread_mutex_consistent(&card_->mu);
  else if (rc == ETIMEDOUT) return false;
  else if (rc != 0) throw std::system_error(rc, std::generic_category(), "card lock");
  return true;
}

void futex_wake_all(std::atomic<uint32_t> *word) { futex(word, FUTEX_WAKE, INT_MAX, nullptr); }

void futex_wait(std::atomic<uint32_t> *word, uint32_t seen, uint64_t timeout_ns) {
  timespec ts{(time_t)(timeout_ns / 1'000'000'000ULL), (long)(timeout_ns % 1'000'000'000ULL)};
  futex(word, FUTEX_WAIT, seen, timeout_ns == UINT64_MAX ? nullptr : &ts);
}

void card_changed(SharedCard *card) {
  card->seq.fetch_add(1);
  if (card->sleepers.load() > 0) futex_wake_all(&card->seq);
}

void card_wait(SharedCard *card, uint32_t seen, uint64_t timeout_ns) {
  card->sleepers.fetch_add(1);
  futex_wait(&card->seq, seen, timeout_ns);
  card->sleepers.fetch_sub(1);
}

}  // namespace gp
