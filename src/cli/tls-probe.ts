import { connect } from 'node:tls';
import { isIP } from 'node:net';
import { isGpupoolError } from '../errors.js';

/**
 * `--host http://…` against a daemon that speaks only TLS: its HTTPS server hangs up on the plain-text
 * request, which alone reads like a crash. A TLS handshake on the same port tells the two apart.
 */

/** Whether a TLS server answers a handshake at host:port (its certificate is not checked: only whether TLS is spoken). */
export function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const bare = host.replace(/^\[|\]$/g, '');
    const socket = connect({ host: bare, port, rejectUnauthorized: false, ...(isIP(bare) ? {} : { servername: bare }) });
    const done = (yes: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(yes);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    // A server that wants a client certificate may end the handshake with an alert: that is TLS too.
    socket.once('error', (err: Error & { code?: string }) => done(/^ERR_SSL_(TLSV1|TLSV13|SSLV3)_ALERT/.test(err.code ?? '')));
  });
}

/** The cause's code of a fetch that failed as a hang-up: what a TLS-only server does to plain HTTP. */
function hungUp(err: unknown): boolean {
  const cause = isGpupoolError(err) ? (err.cause as { code?: string } | undefined) : undefined;
  const code = cause?.code ?? '';
  return code === 'ECONNRESET' || code.startsWith('HPE_');
}

/** A message for an http:// URL whose daemon speaks TLS, or null when that is not what went wrong. */
export async function tlsOnlyMessage(url: URL, err: unknown, timeoutMs: number): Promise<string | null> {
  if (url.protocol !== 'http:' || !hungUp(err)) return null;
  const port = Number(url.port || 80);
  if (!(await speaksTls(url.hostname, port, timeoutMs))) return null;
  return `${url.origin}: the daemon there speaks TLS: use https://${url.host} (and --tls-ca if its CA is not in the system's store)`;
}
