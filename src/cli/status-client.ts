import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { STATUS_API_VERSION, type StatusDocument } from '../server/status.js';

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

export async function fetchStatus(url: URL, timeoutMs: number): Promise<StatusDocument> {
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
  const text = await response.text();
  if (!response.ok) {
    throw new GpupoolError(ErrorCodes.HOST_BAD_RESPONSE, `${url.origin}: HTTP ${response.status} from ${url.pathname}`, { details: { url: url.href, status: response.status } });
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
