import { isIP } from 'node:net';
import { ErrorCodes, GpupoolError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `HOST:PORT` or `[IPv6]:PORT`; port 0 lets the kernel pick a free port. */
export function parseListen(value: string, key = 'listen'): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `${key}: expected HOST:PORT (port 0-65535), got "${value}"`, {
      details: { key, value },
    });
  }
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `${key}: "${host}" in brackets is not an IPv6 address`, {
      details: { key, value },
    });
  }
  return { host, port };
}

/** The inverse of parseListen, bracketing IPv6 hosts so the result parses again. */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
