import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * The subject CN of the client certificate that the TLS layer verified against `tls.clientCa` on this
 * connection; null when there is none (plain HTTP, or TLS without client certificates). A subject with
 * several CNs gives them joined with `+`, which is no tenant name: such a certificate is refused
 * unless a `cert=` line names it so.
 */
export function verifiedClientName(socket: Socket): string | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const cn: unknown = socket.getPeerCertificate()?.subject?.CN;
  if (Array.isArray(cn)) return cn.length > 0 ? cn.join('+') : null;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}
