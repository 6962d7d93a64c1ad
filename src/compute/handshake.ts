import { Packr } from 'msgpackr';
import type { DriverDevice } from './native.js';

/** Protocol major version; the op table's digest pins the rest (docs/protocol.md). */
export const PROTOCOL_VERSION = 1;

/** WebSocket close codes of the compute endpoint. */
export const CloseCodes = {
  PROTOCOL_MISMATCH: 4001,
  PROTOCOL_ERROR: 4002,
  AUTH_REFUSED: 4003,
  NO_DEVICE: 4004,
  SHUTTING_DOWN: 4005,
} as const;

export interface Hello {
  protocol: number;
  digest: string;
  cuda: number;
  token: string | null;
  pid: number;
  host: string;
  program: string;
}

// Maps decode as plain objects; bin decodes as Buffer; no msgpackr record extensions on the wire.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export class HandshakeError extends Error {
  constructor(readonly closeCode: number, message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

/** Decodes and checks HELLO; any deviation is a HandshakeError naming what was wrong. */
export function parseHello(message: Buffer, digest: string): Hello {
  let hello: Partial<Hello>;
  try {
    hello = packr.unpack(message) as Partial<Hello>;
  } catch (err) {
    throw new HandshakeError(CloseCodes.PROTOCOL_ERROR, `HELLO is not msgpack: ${(err as Error).message}`);
  }
  if (typeof hello !== 'object' || hello === null || Array.isArray(hello)) throw new HandshakeError(CloseCodes.PROTOCOL_ERROR, 'HELLO is not a map');
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw new HandshakeError(CloseCodes.PROTOCOL_MISMATCH, `protocol ${String(hello.protocol)} is not ${PROTOCOL_VERSION}`);
  }
  if (hello.digest !== digest) {
    throw new HandshakeError(CloseCodes.PROTOCOL_MISMATCH, `client built from op table ${String(hello.digest)}, daemon from ${digest}: use matching gpupool versions`);
  }
  return {
    protocol: hello.protocol,
    digest: hello.digest,
    cuda: typeof hello.cuda === 'number' ? hello.cuda : 0,
    token: typeof hello.token === 'string' ? hello.token : null,
    pid: typeof hello.pid === 'number' ? hello.pid : 0,
    host: typeof hello.host === 'string' ? hello.host : '',
    program: typeof hello.program === 'string' ? hello.program : '',
  };
}

export function encodeWelcome(session: number, digest: string, driverVersion: number, devices: DriverDevice[]): Buffer {
  return packr.pack({
    protocol: PROTOCOL_VERSION,
    digest,
    session,
    driverVersion,
    devices: devices.map((d) => ({
      ordinal: d.ordinal,
      name: d.name,
      uuid: d.uuid,
      pciDomain: d.pciDomain,
      pciBus: d.pciBus,
      pciDevice: d.pciDevice,
      // A BigInt travels as a msgpack integer; a number above 2^32 would go as a float.
      totalMem: BigInt(d.totalMem),
      attributes: d.attributes,
    })),
  });
}

/** For tests and tools: the same encoder both ways. */
export function encodeHello(hello: Hello): Buffer {
  return packr.pack(hello);
}
