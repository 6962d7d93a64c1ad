import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { STATUS_API_VERSION, type StatusDocument } from './status.js';

/**
 * Reads a daemon's JSON document (`/v1/status`, `/v1/pool`): for `gpupool status`, for `gpupool run`'s
 * placement across hosts, and for a daemon's pool view of its peers. Every failure is a GpupoolError
 * saying whether the host could not be reached or answered with something else.
 */
export async function fetchDocument<T>(url: URL, timeoutMs: number, apiVersion: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = err instanceof DOMException && err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? messageOf(err));
    throw new GpupoolError(ErrorCodes.HOST_UNREACHABLE, `${url.origin}: cannot reach the daemon (${why}); is gpupoold running there?`, {
      cause: err,
      details: { url: url.href },
    });
  }
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    throw new GpupoolError(ErrorCodes.HOST_UNREACHABLE, `${url.origin}: the answer was cut short (${messageOf(err)})`, { cause: err, details: { url: url.href } });
  }
  if (!response.ok) {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: HTTP ${response.status} from ${url.pathname}`, { details: { url: url.href, status: response.status } });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: the answer is not JSON; is this a gpupool daemon?`, { details: { url: url.href } });
  }
  if ((doc as { apiVersion?: unknown } | null)?.apiVersion !== apiVersion) {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: not a ${apiVersion} document`, { details: { url: url.href } });
  }
  return doc as T;
}

export function fetchStatus(url: URL, timeoutMs: number): Promise<StatusDocument> {
  return fetchDocument<StatusDocument>(url, timeoutMs, STATUS_API_VERSION);
}
