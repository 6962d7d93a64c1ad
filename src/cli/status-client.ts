import { readFileSync } from 'node:fs';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import type { TlsClientOptions } from '../server/status-client.js';

/** The port gpupoold listens on unless told otherwise (`listen`'s default). */
export const DEFAULT_PORT = 7760;

/** Whether the authority of `scheme://authority/...` names a port (`gpu1:80`, `[::1]:7760`). */
function namesPort(withScheme: string): boolean {
  const authority = withScheme.replace(/^[a-z]+:\/\//i, '').split(/[/?#]/, 1)[0] ?? '';
  return /:\d*$/.test(authority.replace(/^\[[^\]]*\]/, ''));
}

/**
 * Accepts `http://host:port`, `host:port`, a bare `host` or a full `/v1/status` URL, as operators type
 * them. Without a port, the daemon's own (7760), not the scheme's: a bare `gpu1` is gpupoold on gpu1.
 */
export function statusUrl(host: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(host) ? host : `http://${host}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new GpupoolError(ErrorCodes.USAGE, `--host ${host}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GpupoolError(ErrorCodes.USAGE, `--host ${host}: use http:// or https://`);
  if (!namesPort(withScheme)) url.port = String(DEFAULT_PORT);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/status';
  return url;
}

/** The PEM files for https:// daemons, as the client library's GPUPOOL_TLS_CA, _CERT and _KEY name them. */
export interface TlsClientFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** Reads the files; one that cannot be read is a usage error naming the option and the file. */
export function readTlsClientFiles(files: TlsClientFiles): TlsClientOptions {
  if ((files.cert === undefined) !== (files.key === undefined)) throw new GpupoolError(ErrorCodes.USAGE, '--tls-cert and --tls-key go together: give both or neither');
  const out: TlsClientOptions = {};
  for (const [name, option] of [['ca', '--tls-ca'], ['cert', '--tls-cert'], ['key', '--tls-key']] as const) {
    const path = files[name];
    if (path === undefined) continue;
    try {
      out[name] = readFileSync(path);
    } catch (err) {
      throw new GpupoolError(ErrorCodes.USAGE, `${option} ${path}: ${messageOf(err)}`, { cause: err });
    }
  }
  return out;
}
