import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { STATUS_API_VERSION, type StatusDocument } from './status.js';

/** What an https:// daemon is checked against, and the client certificate it may ask for (PEM). */
export interface TlsClientOptions {
  /** The CA certificates to trust (default: Node's store). */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
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

/** The socket of an `http+unix://` URL (run-placement.ts statusUrlOf), or null. */
function socketOf(url: URL): string | null {
  return url.protocol === 'http+unix:' ? decodeURIComponent(url.host) : null;
}

/** Where a URL reaches, for messages: its origin, or a local daemon's unix:// address. */
function originOf(url: URL): string {
  const socket = socketOf(url);
  return socket === null ? url.origin : `unix://${socket}`;
}

/** One GET, over http://, https:// (with `tls`) or a Unix socket, bounded by `timeoutMs` from start to end. */
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
    const socket = socketOf(url);
    const req =
      socket !== null
        ? httpRequest({ ...options, socketPath: socket, path: url.pathname }, onResponse)
        : url.protocol === 'https:'
          ? httpsRequest(url, { ...options, ...tls }, onResponse)
          : httpRequest(url, options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

/** The message of a daemon's JSON error (`{"error": {"message"}}`): why it said no. */
function errorMessage(text: string): string | null {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? message : null;
  } catch {
    return null;
  }
}

/**
 * Reads a daemon's JSON document (`/v1/status`, `/v1/pool`): for `gpupool status`, for `gpupool run`'s
 * placement across hosts, and for a daemon's pool view of its peers. Every failure is a GpupoolError
 * saying whether the host could not be reached (or its TLS handshake failed) or answered with
 * something else.
 */
export async function fetchDocument<T>(url: URL, timeoutMs: number, apiVersion: string, tls: TlsClientOptions = {}): Promise<T> {
  let response: { status: number; text: string };
  try {
    response = await get(url, timeoutMs, tls);
  } catch (err) {
    const { code, name } = err as { code?: string; name?: string };
    const tlsWhy = tlsProblem(code, messageOf(err));
    const why = name === 'AbortError' ? `no answer within ${timeoutMs} ms` : (code ?? messageOf(err));
    throw new GpupoolError(ErrorCodes.HOST_UNREACHABLE, tlsWhy ? `${originOf(url)}: ${tlsWhy}` : `${originOf(url)}: cannot reach the daemon (${why}); is gpupoold running there?`, {
      cause: err,
      details: { url: url.href },
    });
  }
  const { text } = response;
  if (response.status < 200 || response.status > 299) {
    // The daemon's own errors say why (a refused client certificate, a status address elsewhere).
    const said = errorMessage(text);
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${originOf(url)}: HTTP ${response.status} from ${url.pathname}${said ? `: ${said}` : ''}`, {
      details: { url: url.href, status: response.status },
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${originOf(url)}: the answer is not JSON; is this a gpupool daemon?`, { details: { url: url.href } });
  }
  if ((doc as { apiVersion?: unknown } | null)?.apiVersion !== apiVersion) {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${originOf(url)}: not a ${apiVersion} document`, { details: { url: url.href } });
  }
  return doc as T;
}

export function fetchStatus(url: URL, timeoutMs: number, tls: TlsClientOptions = {}): Promise<StatusDocument> {
  return fetchDocument<StatusDocument>(url, timeoutMs, STATUS_API_VERSION, tls);
}
