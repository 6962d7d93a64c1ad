/** CUresult values the compute tests assert on (cuda.h). */
export const CUresult = {
  SUCCESS: 0,
  INVALID_VALUE: 1,
  OUT_OF_MEMORY: 2,
  INVALID_CONTEXT: 201,
  INVALID_HANDLE: 400,
  NOT_FOUND: 500,
} as const;
