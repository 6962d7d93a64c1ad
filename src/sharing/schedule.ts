import { DEFAULT_PRIORITY, clampPriority, parsePriority, priorityValue, type Priority, type PriorityClass } from './priority.js';
import type { JobRequest } from './quota.js';

/**
 * What the card scheduler is told about a session (docs/sharing.md), and the schedule windows that
 * change it through the day: an operator gives a class the pool at certain hours (`training gets the
 * cards at night`) by scheduling it as another class, or holds it off, during a window.
 */

export const WINDOW_DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface ScheduleWindow {
  /** The class the window applies to. */
  class: PriorityClass;
  /** `HH:MM`, the daemon host's local time; a window with to <= from runs past midnight. */
  from: string;
  to: string;
  /** Days the window starts on; absent: every day. */
  days?: (typeof WINDOW_DAYS)[number][];
  /** How the class is scheduled inside the window: as another class, or `paused` (kept off the cards). */
  as: PriorityClass | 'paused';
}

/** The native session's scheduling parameters (native/addon/scheduler.h SchedParams). */
export interface SchedParams {
  share: number;
  limit: boolean;
  priority: number;
  paused: boolean;
}

export interface Scheduling {
  params: SchedParams;
  /** The priority the job asked for, after the tenant's ceiling. */
  priority: Priority;
  /** How it is scheduled right now (a window may change the class). */
  effective: string;
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** Whether `at` (local time) falls in the window. */
export function inWindow(w: ScheduleWindow, at: Date): boolean {
  const from = minutes(w.from), to = minutes(w.to);
  const now = at.getHours() * 60 + at.getMinutes();
  const startsOn = (day: number) => w.days === undefined || w.days.includes(WINDOW_DAYS[day]!);
  const today = at.getDay(), yesterday = (today + 6) % 7;
  if (from < to) return now >= from && now < to && startsOn(today);
  // Past midnight: the part before midnight started today, the part after it started yesterday.
  return (now >= from && startsOn(today)) || (now < to && startsOn(yesterday));
}

/** The session's parameters at `at`: its request, the tenant's ceiling, the defaults and the windows. */
export function scheduling(request: JobRequest, ceiling: Priority | null, defaults: { share: number }, windows: ScheduleWindow[], at: Date): Scheduling {
  const asked = request.priority === null ? DEFAULT_PRIORITY : (parsePriority(request.priority) ?? DEFAULT_PRIORITY);
  const priority = clampPriority(asked, ceiling);
  const window = windows.find((w) => w.class === priority.class && inWindow(w, at));
  const as = window?.as ?? priority.class;
  const paused = as === 'paused';
  const effective: Priority = paused ? priority : { class: as as PriorityClass, level: priority.level };
  return {
    params: { share: request.share ?? defaults.share, limit: request.limit, priority: priorityValue(effective), paused },
    priority,
    effective: paused ? 'paused' : effective.level === 0 ? effective.class : `${effective.class}:${effective.level}`,
  };
}
