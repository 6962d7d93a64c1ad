import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { TenantLimits } from '../auth/tokens.js';
import type { Priority } from '../sharing/priority.js';
import { NO_REQUEST, type JobRequest } from '../sharing/quota.js';
import type { SchedParams } from '../sharing/schedule.js';
import { UsageWindow } from '../sharing/usage.js';
import type { ClientLink, JsLink } from './client-link.js';
import type { NativeSession, PeerCredentials, SessionStats } from './native.js';

/** What status shows of a session (docs/operations.md, "Status"). */
export interface SessionInfo {
  id: number;
  peer: string;
  program: string;
  pid: number;
  host: string;
  /** The tenant whose token or client certificate opened the session (docs/security.md); null when the daemon has neither. */
  tenant: string | null;
  connectedAt: string;
  /** `handshake` until HELLO is taken; `waiting` while held for cards with room (its `wait`); then `active`. */
  state: 'handshake' | 'waiting' | 'active';
  /** What the client asked for (docs/operations.md, "Memory quotas", "Placement"); all null: the defaults. */
  request: JobRequest;
  /** How the scheduler treats it (docs/sharing.md); null until the handshake is done. */
  scheduling: { share: number; limit: boolean; priority: string; effective: string } | null;
  /**
   * Per card the session was given: its memory quota and what it holds (bytes), its measured device
   * time and time waiting for the card (ns), and the share of the card it had over the last 10 s
   * (null: not measured yet).
   */
  cards: { ordinal: number; quota: number; used: number; deviceNs: number; waitNs: number; achievedShare: number | null; poisoned: string | null }[];
  /** Times the daemon stopped reading the client, its backlog over `compute.maxQueuedBytes`. */
  pauses: number;
  /**
   * How the session's calls reach it: `tcp` or `tls`, read by `native` code (the session's threads,
   * off the event loop) or by `js` (through the event loop: TLS, and every connection before its WELCOME).
   */
  /** calls: 'ring' once a local job's calls come through its call ring (absent: the socket). */
  transport: { socket: 'tcp' | 'tls' | 'unix'; reader: 'native' | 'js'; calls?: 'ring' };
  /** The pid of the worker process that runs the session (config `compute.sessionProcess: "process"`); null: a thread of the daemon. */
  workerPid: number | null;
  /** A `unix` connection's peer as the kernel recorded it at connect (SO_PEERCRED); absent on TCP. */
  credentials?: PeerCredentials;
  stats: SessionStats | null;
}

/** One connection of /v1/compute, from its upgrade until its session is freed. */
export interface Client {
  info: SessionInfo;
  ws: WebSocket;
  /** How it is pinged and closed: through `ws` until its session takes the socket over. */
  link: ClientLink;
  session: NativeSession | null;
  /** Messages went to the session through `ws` (sent before the WELCOME): it keeps that path. */
  submitted: boolean;
  /** The quota committed for it per card, by ordinal (0: a card it was not given); released once, when the session is freed. */
  quota: number[] | null;
  /** The share committed with it on each of its cards. */
  share: number;
  /** Withdraws it from the admission queue while it waits for room. */
  withdraw: (() => void) | null;
  /** Its HELLO asked for handshake notices (handshake-notices.ts). */
  notices: boolean;
  /** The tenant's priority ceiling and the last parameters the scheduler was given. */
  ceiling: Priority | null;
  params: SchedParams | null;
  usage: UsageWindow;
}

/** Who opened a session, as placement needs it. */
export interface Tenant {
  name: string | null;
  limits: TenantLimits | null;
}

/** A connection just upgraded: nobody yet, on the event loop, until its HELLO is taken. */
export function newClient(id: number, ws: WebSocket, link: JsLink, req: IncomingMessage, kind: 'tcp' | 'unix', credentials: PeerCredentials | null): Client {
  const socket = kind === 'unix' ? 'unix' : (req.socket as { encrypted?: boolean }).encrypted ? 'tls' : 'tcp';
  return {
    info: {
      id,
      peer: kind === 'unix' ? `unix:pid=${credentials?.pid ?? '?'},uid=${credentials?.uid ?? '?'}` : `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
      program: '',
      pid: 0,
      host: '',
      tenant: null,
      connectedAt: new Date().toISOString(),
      state: 'handshake',
      request: { ...NO_REQUEST },
      scheduling: null,
      cards: [],
      pauses: 0,
      transport: { socket, reader: 'js' },
      workerPid: null,
      ...(credentials ? { credentials } : {}),
      stats: null,
    },
    ws,
    link,
    session: null,
    submitted: false,
    quota: null,
    share: 0,
    withdraw: null,
    notices: false,
    ceiling: null,
    params: null,
    usage: new UsageWindow(),
  };
}
