import { Packr, Unpackr } from 'msgpackr';
import { handshake, type HandshakeMapName } from './frames.js';

/**
 * The handshake's maps (frames.ts `handshake`) on the JavaScript side: their types, derived from the
 * table, and the one encoder and decoder the daemon (src/compute/handshake.ts), the protocol client
 * (src/protocol/client.ts) and the tests' raw client use. The client library's C codec of the same
 * maps is generated (src/protocol/gen/handshake.ts).
 */

type KeysOf<M extends HandshakeMapName> = (typeof handshake)[M]['keys'][number];

type ValueOf<T> = T extends 'uint' | 'int' | 'float'
  ? number | bigint
  : T extends 'bool'
    ? boolean
    : T extends 'str'
      ? string
      : T extends 'bin'
        ? Uint8Array
        : T extends { map: infer M extends HandshakeMapName }
          ? HandshakeValue<M>
          : T extends { arrayOf: 'uint' }
            ? (number | bigint)[]
            : T extends { arrayOf: 'pairs' }
              ? [number, number][]
              : T extends { arrayOf: infer M extends HandshakeMapName }
                ? HandshakeValue<M>[]
                : never;

/** A map of the handshake as it travels: every key optional (absent is allowed), typed by the table. */
export type HandshakeValue<M extends HandshakeMapName> = {
  [K in KeysOf<M> as K['key']]?: ValueOf<K['type']> | (K extends { nil: true } ? null : never) | (K extends { orStr: infer S extends string } ? S : never);
};

// Maps decode as plain objects; bin as Buffer; no msgpackr record extensions on the wire.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
// Integers past 2^53 are not expected in a WELCOME or a notice: read as numbers.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** One of the handshake's maps, its keys checked against the table by the compiler. */
export function encodeHandshake<M extends HandshakeMapName>(_map: M, value: HandshakeValue<M>): Buffer {
  return packr.pack(value);
}

/** Decodes a message of any shape (HELLO is checked by its reader, src/compute/handshake.ts). */
export function unpackHandshake(message: Buffer): unknown {
  return packr.unpack(message);
}

/** What a daemon sends before the session runs: a notice (a map with `notice`), or WELCOME. */
export type DaemonMessage = { notice: HandshakeValue<'notice'> } | { welcome: HandshakeValue<'welcome'> };

export function decodeDaemonMessage(message: Buffer): DaemonMessage {
  const m = unpackr.unpack(message) as Record<string, unknown>;
  return typeof m === 'object' && m !== null && 'notice' in m ? { notice: m as HandshakeValue<'notice'> } : { welcome: m as HandshakeValue<'welcome'> };
}
