import { ErrorCodes, GpupoolError } from '../errors.js';

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
