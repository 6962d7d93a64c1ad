import { frames, type Field, type Frame, type FrameName } from './frames.js';

/**
 * The frames table (frames.ts) on the JavaScript side: the values of a frame in wire order, from its
 * fields by name, for tools and tests that write raw frames (src/protocol/client.ts, the protocol
 * fuzzer). The C codec of the same table is generated (src/protocol/gen/frames.ts).
 */

/** A field's value: a number (or BigInt past 2^53), a tuple of them (`count`), bytes, or [id, bytes] pairs. */
export type FieldValue = number | bigint | readonly (number | bigint)[] | Uint8Array | readonly (readonly [number, Uint8Array])[];

export function frameFields(name: FrameName): readonly Field[] {
  return frames[name].fields;
}

/**
 * The frame's values in order: each field's (a `count` field's spread, pairs as [id, value] arrays),
 * a `when` field only where its condition holds, then a frame's least trailing values (`trailingLeast`).
 * A field left out is an error: a tool that means to send a malformed frame edits the values after.
 */
export function frameValues(name: FrameName, values: Record<string, FieldValue>): unknown[] {
  const out: unknown[] = [];
  for (const f of frameFields(name)) {
    if (f.when && values[f.when.field] !== f.when.equals) continue;
    const v = values[f.name];
    if (v === undefined) throw new Error(`frame ${name}: no value for ${f.name}`);
    if (f.count !== undefined) {
      if (!Array.isArray(v) || v.length !== f.count) throw new Error(`frame ${name}: ${f.name} takes ${f.count} values`);
      out.push(...(v as (number | bigint)[]));
    } else if (f.type === 'pairs') {
      out.push((v as readonly (readonly [number, Uint8Array])[]).map(([id, bytes]) => [id, bytes]));
    } else {
      out.push(v);
    }
  }
  const frame: Frame = frames[name];
  if (frame.trailingLeast !== undefined) out.push(...frame.trailingLeast);
  return out;
}

/** A bin field's exact length from the values of the fields it names (`bytes`), or null when it has none. */
export function binLength(f: Field, values: Record<string, FieldValue>): number | null {
  if (typeof f.bytes === 'number') return f.bytes;
  if (f.bytes === undefined) return null;
  return f.bytes.reduce((n, name) => n * Number(values[name]), 1);
}
