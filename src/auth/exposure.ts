import { BlockList, isIP } from 'node:net';
import { parseListen } from '../config/address.js';
import type { DaemonConfig } from '../config/schema.js';
import { ErrorCodes, GpupoolError } from '../errors.js';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (in any spelling, and IPv4-mapped 127.x), and the name localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  const family = isIP(h);
  if (family === 0) return false; // another name: it may resolve to anything
  return loopback.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Refuses a configuration that would let anyone on the network run code on this host's cards: compute
 * served on a non-loopback address with neither a token file nor required client certificates
 * (`tls.clientCa`). Status and metrics alone (compute off, or on `statusListen`) may be served
 * anywhere, as any exporter's are.
 */
export function checkExposure(config: DaemonConfig): void {
  if (!config.compute.enabled || config.auth.tokens !== null || config.tls.clientCa !== null) return;
  const { host } = parseListen(config.listen);
  if (isLoopback(host)) return;
  throw new GpupoolError(
    ErrorCodes.CONFIG_INSECURE,
    `listen ${config.listen} is not a loopback address and no token file is set, nor client certificates required: anyone who can reach it could run code on this host's GPUs. ` +
      'Give the daemon a token file (--tokens FILE, auth.tokens) or a CA for client certificates (--tls-client-ca FILE, tls.clientCa; see docs/security.md), listen on 127.0.0.1, or turn compute off (compute.enabled: false)',
    { details: { key: 'listen', value: config.listen } },
  );
}
