/**
 * Priority classes (docs/sharing.md): `high` for online inference, `normal`, `low` for training and
 * batch, each with an optional level 0-9 inside it (`high:7`). Work of a higher class goes to the card
 * first; the scheduler sees one number, class * 10 + level.
 */
export const PRIORITY_CLASSES = ['low', 'normal', 'high'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export interface Priority {
  class: PriorityClass;
  level: number;
}

/** What a request without a priority gets. */
export const DEFAULT_PRIORITY: Priority = { class: 'normal', level: 0 };

const FORM = /^(low|normal|high)(?::([0-9]))?$/;

/** `high`, `low:3`; null for anything else. */
export function parsePriority(text: string): Priority | null {
  const m = FORM.exec(text.trim());
  if (!m) return null;
  return { class: m[1] as PriorityClass, level: m[2] === undefined ? 0 : Number(m[2]) };
}

/** The scheduler's number for a priority: higher goes first. */
export function priorityValue(p: Priority): number {
  return PRIORITY_CLASSES.indexOf(p.class) * 10 + p.level;
}

export function formatPriority(p: Priority): string {
  return p.level === 0 ? p.class : `${p.class}:${p.level}`;
}

/** `p` lowered to `ceiling` when above it (a tenant's `priority=`); the class decides, then the level. */
export function clampPriority(p: Priority, ceiling: Priority | null): Priority {
  if (ceiling === null) return p;
  return priorityValue(p) > priorityValue(ceiling) ? ceiling : p;
}
