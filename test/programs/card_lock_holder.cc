// Takes card 0's scheduling lock in the daemon's shared card state and keeps it until killed, as a
// session worker that dies inside the lock would (test/sharing/scheduler-processes.test.ts).
//   card_lock_holder STATE_PATH   (a worker's /proc/PID/fd/5: the daemon's memfd)
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "card_state.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: card_lock_holder STATE_PATH\n");
    return 2;
  }
  int fd = open(argv[1], O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  try {
    gp::CardStateMap state(fd, 0);
    gp::CardLock lock(state.card(0));
    lock.lock();
    printf("locked\n");
    fflush(stdout);
    for (;;) pause();
  } catch (const std::exception &e) {
    fprintf(stderr, "card_lock_holder: %s\n", e.what());
    return 1;
  }
}
