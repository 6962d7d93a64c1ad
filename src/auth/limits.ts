import { clampPriority, formatPriority, parsePriority, type Priority } from '../sharing/priority.js';

/**
 * A tenant's `priority=` is the scheduler's ceiling (src/sharing/schedule.ts): this says, for the log,
 * when it lowered what a job asked for; null when nothing was lowered. (`cards=` is applied by
 * placement, src/sharing/placement.ts; `quota=` with the memory quotas, src/sharing/quota.ts.)
 */
export function priorityLowered(requested: string | null, ceiling: Priority | null): string | null {
  const asked = requested === null ? null : parsePriority(requested);
  if (asked === null || ceiling === null) return null;
  const given = clampPriority(asked, ceiling);
  return given === asked ? null : formatPriority(given);
}
