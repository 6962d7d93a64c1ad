import koffi from 'koffi';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

/** Sends service-manager notifications; a daemon not started by systemd gets a no-op. */
export interface Notifier {
  readonly enabled: boolean;
  notify(state: Record<string, string | number>): boolean;
}

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  close: (fd: number) => number;
}

let libc: Libc | null = null;

// Node's dgram module has no AF_UNIX datagram sockets, so the four libc calls go through koffi.
function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    sendto: lib.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
    close: lib.func('int close(int fd)'),
  };
  return libc;
}

/** struct sockaddr_un for a path, or for an abstract name when the address starts with '@'. */
export function socketAddress(address: string): { addr: Buffer; length: number } {
  const path = Buffer.from(address, 'utf8');
  if (path.length === 0 || path.length >= SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET of ${path.length} bytes does not fit sockaddr_un`);
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  path.copy(addr, 2);
  if (address.startsWith('@')) {
    addr[2] = 0; // abstract namespace: a leading NUL, and no terminating one counted
    return { addr, length: 2 + path.length };
  }
  return { addr, length: 2 + path.length + 1 };
}

/**
 * The sd_notify protocol: one datagram of `KEY=value` lines to $NOTIFY_SOCKET. systemd sets
 * SO_PASSCRED on its socket, so the kernel attaches our credentials without SCM_CREDENTIALS here.
 */
export class SdNotifier implements Notifier {
  private readonly target: { addr: Buffer; length: number } | null;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const socket = env.NOTIFY_SOCKET;
    this.target = socket && (socket.startsWith('/') || socket.startsWith('@')) ? socketAddress(socket) : null;
  }

  get enabled(): boolean {
    return this.target !== null;
  }

  notify(state: Record<string, string | number>): boolean {
    if (!this.target) return false;
    const text = Object.entries(state)
      .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
      .join('\n');
    const payload = Buffer.from(`${text}\n`, 'utf8');
    const c = loadLibc();
    const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    try {
      // Never block the event loop on a full service-manager queue; a lost notification is retried by the next one.
      return c.sendto(fd, payload, payload.length, MSG_DONTWAIT | MSG_NOSIGNAL, this.target.addr, this.target.length) === payload.length;
    } finally {
      c.close(fd);
    }
  }
}

/** The watchdog period systemd asked for (half of WATCHDOG_USEC), or null when not ours or not set. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}
