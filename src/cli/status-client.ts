import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { STATUS_API_VERSION, type StatusDocument } from '../server/status.js';

/** The PEM files for https:// daemons, as the client library's GPUPOOL_TLS_CA, _CERT and _KEY name them. */
export interface TlsClientFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** What node:https takes: the CA to trust (default: Node's store) and a client certificate. */
export interface TlsClientOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
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

/** Accepts `http://host:port`, `host:port` or a full `/v1/status` URL, as operators type them. */
export function statusUrl(host: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(host) ? host : `http://${host}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new GpupoolError(ErrorCodes.USAGE, `--host ${host}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GpupoolError(ErrorCodes.USAGE, `--host ${host}: use http:// or https://`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/status';
  return url;
}

/** OpenSSL's and Node's codes for a certificate the client did not accept, or that the daemon did not. */
function tlsProblem(code: string | undefined, message: string): string | null {
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') return 'the daemon requires a client certificate (--tls-cert, --tls-key)';
  if (code !== undefined && /^ERR_SSL_.*(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)/.test(code)) return `the daemon refused the client certificate (${message})`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/.test(code))) {
    return `the daemon's certificate was not accepted: ${message} (give its CA with --tls-ca)`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'no TLS there (is it an http:// daemon?)';
  return null;
}

function get(url: URL, timeoutMs: number, tls: TlsClientOptions): Promise<{ status: number; text: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const options = { method: 'GET', headers: { accept: 'application/json' }, signal };
    const req = url.protocol === 'https:' ? httpsRequest(url, { ...options, ...tls }, onResponse) : httpRequest(url, options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

function errorMessage(text: string): string | null {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? message : null;
  } catch {
    return null;
  }
}

export async function fetchStatus(url: URL, timeoutMs: number, tls: TlsClientOptions = {}): Promise<StatusDocument> {
  let response: { status: number; text: string };
  try {
    response = await get(url, timeoutMs, tls);
  } catch (err) {
    const { code, name } = err as { code?: string; name?: string };
    const tlsWhy = tlsProblem(code, messageOf(err));
    const why = name === 'AbortError' ? `no answer within ${timeoutMs} ms` : (code ?? messageOf(err));
    throw new GpupoolError(ErrorCodes.HOST_UNREACHABLE, tlsWhy ? `${url.origin}: ${tlsWhy}` : `${url.origin}: cannot reach the daemon (${why}); is gpupoold running there?`, {
      cause: err,
      details: { url: url.href },
    });
  }
  const { text } = response;
  if (response.status < 200 || response.status > 299) {
    // The daemon's own errors say why (a refused client certificate, a status address elsewhere).
    const said = errorMessage(text);
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: HTTP ${response.status} from ${url.pathname}${said ? `: ${said}` : ''}`, {
      details: { url: url.href, status: response.status },
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: the answer is not JSON; is this a gpupool daemon?`, { details: { url: url.href } });
  }
  if ((doc as { apiVersion?: unknown }).apiVersion !== STATUS_API_VERSION) {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: not a ${STATUS_API_VERSION} document`, { details: { url: url.href } });
  }
  return doc as StatusDocument;
}
