/** Exit statuses of every gpupool command; docs/operations.md lists them for scripts. */
export const ExitCodes = {
  OK: 0,
  /** status: a card is unhealthy; daemon: failed at start or at runtime. */
  FAILURE: 1,
  /** A bad flag, argument or configuration. */
  CONFIG: 2,
  /** status: a host could not be reached or answered with something other than a status document. */
  UNREACHABLE: 3,
  /** run: the pool has no room for the job's cards (EX_TEMPFAIL: try again later). */
  NO_ROOM: 75,
} as const;
