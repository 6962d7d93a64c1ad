import type { ScheduleWindow } from '../sharing/schedule.js';
import { hostname } from 'node:os';
import { DEFAULT_SHARE, MIN_SHARE, POLICIES, type Policy } from '../sharing/placement.js';

export const VENDORS = ['nvidia', 'amd', 'ascend'] as const;
export type Vendor = (typeof VENDORS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The daemon's whole configuration once defaults, file, environment and flags are merged. */
export interface DaemonConfig {
  /**
   * `HOST:PORT` of the HTTP server (status, metrics, and the compute WebSocket); port 0 picks one.
   * HTTPS (and `wss://`) when `tls.cert` is set.
   */
  listen: string;
  /**
   * `HOST:PORT` serving status, health and metrics alone, plain HTTP and read-only; null: they are
   * served on `listen`. When set, `listen` serves only the compute WebSocket.
   */
  statusListen: string | null;
  /**
   * The Unix socket that jobs on this host reach the daemon through (the same routes and compute
   * endpoint as `listen`, never TLS; docs/operations.md, "The local socket").
   */
  localSocket: {
    enabled: boolean;
    /** null: /run/gpupool/gpupool.sock where the daemon can create it, else $XDG_RUNTIME_DIR/gpupool/gpupool.sock. */
    path: string | null;
    /** The socket file's permission bits, octal ("0666": every local user, as loopback TCP allows). */
    mode: string;
  };
  tls: {
    /** PEM certificate (chain) of the daemon; with `key`, `listen` serves HTTPS and `wss://`. null: plain. */
    cert: string | null;
    /** PEM private key of `cert`. */
    key: string | null;
    /**
     * PEM CA certificate(s): compute clients must present a certificate it signed, and its subject CN
     * (or the token file's `cert=` line) is their tenant (docs/security.md). Needs `cert` and `key`.
     */
    clientCa: string | null;
  };
  /** The name this host reports in status and in the metrics' `Hostname` label. */
  hostname: string;
  logLevel: LogLevel;
  vendors: {
    /** Vendors to probe; a host may mix them. */
    enabled: Vendor[];
    /** Folders searched first for each vendor's library, before its usual places. */
    libraryPath: string[];
    /** Also search each vendor's usual folders and the dynamic loader's own path. */
    systemLibraries: boolean;
    /** A vendor whose init call takes longer is reported unavailable (a hung driver must not hold the daemon). */
    initTimeoutMs: number;
    /**
     * Try each library's init in a short-lived child process first: one that crashes or hangs there is
     * reported unavailable and never loaded into the daemon (docs/operations.md, "Vendor libraries").
     */
    probeInit: boolean;
  };
  sampling: {
    /** How often live figures (utilization, memory, temperature, power) and polled health are read. */
    intervalMs: number;
  };
  health: {
    /** How long one NVML event wait blocks on its worker thread before looping. */
    xidWaitMs: number;
    /** Xids caused by applications, not the card; the NVIDIA device plugin ignores the same ones. */
    ignoredXids: number[];
  };
  compute: {
    /** Serve `/v1/compute`: clients' CUDA calls run on this host's cards. */
    enabled: boolean;
    /** The CUDA driver library; null: `libcuda.so.1` through the dynamic loader (the emulated one with `simulate`). */
    driver: string | null;
    /** Clients are pinged this often. */
    pingIntervalMs: number;
    /**
     * A client silent this long (no data, no pong) is dropped at the next ping and its state freed;
     * null: two ping intervals (two missed pings). More than pingIntervalMs.
     */
    clientGraceMs: number | null;
    /** The largest message a client may send (docs/protocol.md, "Limits"); a larger one closes its connection. */
    maxMessageBytes: number;
    /** A session's messages received and not yet run, in bytes, above which its socket is not read. */
    maxQueuedBytes: number;
    /**
     * Shared memory a job on the daemon's host may map into its session (docs/operations.md, "Shared
     * memory"): memfd regions for its pinned memory and copy staging, in bytes in all; 0: none, every
     * copy's bytes cross the socket.
     */
    sharedMemoryBytes: number;
    /** The most shared memory regions one session may hold. */
    sharedMemoryRegions: number;
    /**
     * The call ring of a local session (docs/operations.md, "The call ring"): the largest ring, in
     * bytes, a job may pass for its small calls and replies; 0: none, every call crosses the socket.
     */
    callRingBytes: number;
    /** How long a session's thread polls its ring for the next call before it sleeps, in microseconds. */
    callRingSpinUs: number;
    /**
     * After the handshake a session's own native threads read and write its plain-TCP connection, off
     * the event loop (docs/architecture.md); false: every frame passes through the event loop as
     * before. TLS connections stay on the event loop either way.
     */
    nativeConnections: boolean;
    /**
     * Where a session runs (docs/architecture.md): `thread`, two native threads of the daemon, or
     * `process`, a worker process of its own (native/worker) that owns the connection, so that a
     * crash or a hang ends only that session. The card scheduler reaches across workers through
     * shared memory, so both hold the same sharing guarantees.
     */
    sessionProcess: 'thread' | 'process';
    /**
     * In `process` mode, this many idle session workers are kept started, their driver open, so that
     * a session takes one at once instead of waiting for a process to start; each one taken is
     * replaced in the background. 0: every session starts its own.
     */
    workerPoolSize: number;
    /**
     * In `process` mode, which sessions share a worker (docs/architecture.md, "Workers by tenant"):
     * `session`, none (each its own); `tenant`, every session of one tenant (as its token or client
     * certificate names it) runs in one worker of that tenant's, started with its first session and
     * ended after its last. Different tenants never share one; a session with no tenant runs alone.
     */
    workerScope: 'session' | 'tenant';
    /** A session worker reports its stats this often: its heartbeat. */
    workerHeartbeatMs: number;
    /** A session worker silent this long is hung: it is killed and its session ended (close code 4006). */
    workerHangMs: number;
  };
  sharing: {
    /**
     * The memory quota per card of a session whose client asked for none (docs/operations.md, "Memory
     * quotas"): bytes (`4GiB`, `512MiB`, `2000000000`) or a share of each card (`25%`). Never unlimited.
     */
    defaultQuota: string;
    /** Whether the quotas of live sessions may add up to more than a card's memory. */
    overcommit: boolean;
    /** The compute share of a session whose client asked for none (docs/sharing.md). */
    defaultShare: number;
    /** How long a session keeps a card others wait for, in milliseconds of device time. */
    sliceMs: number;
    /** Operations a session may have queued while one of higher priority shares its card. */
    paceDepth: number;
    /** How long an idle session keeps its card for its next call, in microseconds. */
    idleGraceUs: number;
    /** Hours at which a priority class is scheduled as another, or held off the cards. */
    windows: ScheduleWindow[];
    /** How a session's cards are chosen when its request names no `policy` (docs/operations.md, "Placement"). */
    placement: Policy;
    /** Sessions one tenant may hold at once, unless its token file line says `sessions=` (docs/security.md, "Tenant limits"). */
    tenantMaxSessions: number;
    /**
     * Memory quota one tenant's sessions may hold committed together, over all cards of the host, unless
     * its line says `memory=`: bytes (`64GiB`) or a share of all the cards' memory (`75%`).
     */
    tenantMaxMemory: string;
  };
  pool: {
    /** Other daemons of the pool (`http://HOST:PORT`), shown by `GET /v1/pool`; this host may be listed too. */
    peers: string[];
    /** How long `GET /v1/pool` waits for each peer's status. */
    timeoutMs: number;
    /** How far back the dashboard's time series reach (`GET /v1/history`: one sample per `sampling.intervalMs`). */
    historySeconds: number;
    /**
     * Where the pool's members come from: `static` (`peers`), `kubernetes` (the daemons gpupool's DRA
     * controller published ResourceSlices for) or `slurm` (the nodes with the gpupool GRES, each with a
     * daemon on `daemonPort`) (docs/kubernetes.md, docs/slurm.md). `peers` is used with `static` only.
     */
    source: 'static' | 'kubernetes' | 'slurm';
    daemonPort: number;
    /** With `kubernetes`: the API server and a file with its bearer token; null: the pod's service account. */
    apiServer: string | null;
    apiTokenFile: string | null;
  };
  auth: {
    /**
     * Token file (docs/security.md): one `TENANT sha256:HEX [key=value ...]` line per token. null: no
     * authentication, and then compute may only listen on loopback.
     */
    tokens: string | null;
    /** Failed handshakes a peer address may make per window; beyond them it is refused without checking. */
    maxFailures: number;
    failureWindowMs: number;
    /**
     * A connection that has not had its HELLO accepted this long after TCP accept (its TLS handshake,
     * HTTP upgrade and HELLO together; a status request: its headers) is closed (4002).
     */
    helloTimeoutMs: number;
    /** The largest message a compute client may send before its HELLO is accepted (docs/security.md, "Limits before authentication"). */
    maxHelloBytes: number;
    /** Connections from one address not yet past their HELLO (or first request); more are closed at accept. */
    maxPendingPerAddress: number;
    /** Connections not yet past their HELLO (or first request), over all addresses. */
    maxPending: number;
    /** A failed handshake from an address over `maxFailures` is answered this late (a valid token still gets in at once). */
    blockedDelayMs: number;
  };
  /** Fixture of simulated cards; when set the daemon loads the fake vendor libraries. */
  simulate: string | null;
  /** Longest time an orderly shutdown may take before the process exits anyway. */
  shutdownTimeoutMs: number;
}

export function defaultConfig(): DaemonConfig {
  return {
    listen: '127.0.0.1:7760',
    statusListen: null,
    localSocket: { enabled: true, path: null, mode: '0666' },
    tls: { cert: null, key: null, clientCa: null },
    hostname: hostname(),
    logLevel: 'info',
    vendors: { enabled: [...VENDORS], libraryPath: [], systemLibraries: true, initTimeoutMs: 10_000, probeInit: true },
    sampling: { intervalMs: 2_000 },
    health: { xidWaitMs: 1_000, ignoredXids: [13, 31, 43, 45, 68, 109] },
    compute: { enabled: true, driver: null, pingIntervalMs: 10_000, clientGraceMs: null, maxMessageBytes: 1024 ** 3, maxQueuedBytes: 256 * 1024 ** 2, sharedMemoryBytes: 16 * 1024 ** 3, sharedMemoryRegions: 1024, callRingBytes: 4096 + 2 * 1024 ** 2, callRingSpinUs: 50, nativeConnections: true, sessionProcess: 'process', workerPoolSize: 2, workerScope: 'session', workerHeartbeatMs: 250, workerHangMs: 5000 },
    sharing: { defaultQuota: '25%', overcommit: false, placement: 'spread', defaultShare: DEFAULT_SHARE, sliceMs: 4, paceDepth: 1, idleGraceUs: 200, windows: [], tenantMaxSessions: 64, tenantMaxMemory: '75%' },
    pool: { peers: [], timeoutMs: 2_000, historySeconds: 300, source: 'static', daemonPort: 7760, apiServer: null, apiTokenFile: null },
    auth: { tokens: null, maxFailures: 10, failureWindowMs: 10_000, helloTimeoutMs: 5_000, maxHelloBytes: 16_384, maxPendingPerAddress: 64, maxPending: 1024, blockedDelayMs: 1000 },
    simulate: null,
    shutdownTimeoutMs: 10_000,
  };
}

/** JSON Schema of the configuration file (and of the merged result). */
export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'string', minLength: 1 },
    statusListen: { type: ['string', 'null'], minLength: 1 },
    localSocket: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        // sun_path holds 108 bytes with its terminating zero.
        path: { type: ['string', 'null'], pattern: '^/', maxLength: 107 },
        mode: { type: 'string', pattern: '^0?[0-7]{3}$' },
      },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        cert: { type: ['string', 'null'], minLength: 1 },
        key: { type: ['string', 'null'], minLength: 1 },
        clientCa: { type: ['string', 'null'], minLength: 1 },
      },
    },
    hostname: { type: 'string', minLength: 1, maxLength: 253 },
    logLevel: { enum: [...LOG_LEVELS] },
    vendors: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'array', items: { enum: [...VENDORS] }, uniqueItems: true },
        libraryPath: { type: 'array', items: { type: 'string', minLength: 1 } },
        systemLibraries: { type: 'boolean' },
        initTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000 },
        probeInit: { type: 'boolean' },
      },
    },
    sampling: {
      type: 'object',
      additionalProperties: false,
      properties: { intervalMs: { type: 'integer', minimum: 100, maximum: 3_600_000 } },
    },
    health: {
      type: 'object',
      additionalProperties: false,
      properties: {
        xidWaitMs: { type: 'integer', minimum: 10, maximum: 60_000 },
        ignoredXids: { type: 'array', items: { type: 'integer', minimum: 0 } },
      },
    },
    compute: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        driver: { type: ['string', 'null'], minLength: 1 },
        pingIntervalMs: { type: 'integer', minimum: 100, maximum: 600_000 },
        clientGraceMs: { type: ['integer', 'null'], minimum: 100, maximum: 3_600_000 },
        // A message holds at least one call frame; 2 GiB is the most a bin (and a session buffer) may hold.
        maxMessageBytes: { type: 'integer', minimum: 65_536, maximum: 2 ** 31 },
        maxQueuedBytes: { type: 'integer', minimum: 65_536, maximum: 2 ** 40 },
        sharedMemoryBytes: { type: 'integer', minimum: 0, maximum: 2 ** 46 },
        sharedMemoryRegions: { type: 'integer', minimum: 1, maximum: 65_536 },
        callRingBytes: { type: 'integer', minimum: 0, maximum: 4096 + 2 * 64 * 1024 ** 2 },
        callRingSpinUs: { type: 'integer', minimum: 0, maximum: 10_000 },
        nativeConnections: { type: 'boolean' },
        sessionProcess: { enum: ['thread', 'process'] },
        workerPoolSize: { type: 'integer', minimum: 0, maximum: 64 },
        workerScope: { enum: ['session', 'tenant'] },
        workerHeartbeatMs: { type: 'integer', minimum: 10, maximum: 60_000 },
        workerHangMs: { type: 'integer', minimum: 50, maximum: 600_000 },
      },
    },
    sharing: {
      type: 'object',
      additionalProperties: false,
      properties: {
        defaultQuota: { type: 'string', pattern: '^\\s*(\\d+(\\.\\d+)?\\s*[A-Za-z]*|\\d+(\\.\\d+)?\\s*%)\\s*$' },
        overcommit: { type: 'boolean' },
        defaultShare: { type: 'number', minimum: MIN_SHARE, maximum: 1 },
        sliceMs: { type: 'number', minimum: 0.1, maximum: 1000 },
        paceDepth: { type: 'integer', minimum: 0, maximum: 64 },
        idleGraceUs: { type: 'integer', minimum: 0, maximum: 1_000_000 },
        windows: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['class', 'from', 'to', 'as'],
            properties: {
              class: { enum: ['low', 'normal', 'high'] },
              from: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' },
              to: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' },
              days: { type: 'array', items: { enum: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] }, uniqueItems: true, minItems: 1 },
              as: { enum: ['low', 'normal', 'high', 'paused'] },
            },
          },
        },
        placement: { enum: [...POLICIES] },
        tenantMaxSessions: { type: 'integer', minimum: 1, maximum: 100_000 },
        tenantMaxMemory: { type: 'string', pattern: '^\\s*(\\d+(\\.\\d+)?\\s*[A-Za-z]*|\\d+(\\.\\d+)?\\s*%)\\s*$' },
      },
    },
    pool: {
      type: 'object',
      additionalProperties: false,
      properties: {
        peers: { type: 'array', items: { type: 'string', pattern: '^https?://[^/?#\\s]+/?$' }, uniqueItems: true, maxItems: 1024 },
        timeoutMs: { type: 'integer', minimum: 100, maximum: 60_000 },
        historySeconds: { type: 'integer', minimum: 10, maximum: 3_600 },
        source: { enum: ['static', 'kubernetes', 'slurm'] },
        daemonPort: { type: 'integer', minimum: 1, maximum: 65_535 },
        apiServer: { type: ['string', 'null'], pattern: '^https?://[^/?#\\s]+/?$' },
        apiTokenFile: { type: ['string', 'null'], minLength: 1 },
      },
    },
    auth: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tokens: { type: ['string', 'null'], minLength: 1 },
        maxFailures: { type: 'integer', minimum: 1, maximum: 100_000 },
        failureWindowMs: { type: 'integer', minimum: 100, maximum: 86_400_000 },
        helloTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000 },
        // The client library's HELLO is under 2 KiB (names of 255 bytes at most, a token, a request).
        maxHelloBytes: { type: 'integer', minimum: 2048, maximum: 1_048_576 },
        maxPendingPerAddress: { type: 'integer', minimum: 1, maximum: 1_000_000 },
        maxPending: { type: 'integer', minimum: 1, maximum: 1_000_000 },
        blockedDelayMs: { type: 'integer', minimum: 0, maximum: 60_000 },
      },
    },
    simulate: { type: ['string', 'null'], minLength: 1 },
    shutdownTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000 },
  },
} as const;
