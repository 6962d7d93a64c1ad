/**
 * One error class for every failure gpupool reports, each with a stable `code` that callers and
 * scripts match on. docs/errors.md lists every code; add a row there when adding one here.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'GPUPOOL_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'GPUPOOL_CONFIG_UNREADABLE',
  CONFIG_INSECURE: 'GPUPOOL_CONFIG_INSECURE',
  TOKENS_INVALID: 'GPUPOOL_TOKENS_INVALID',
  TOKENS_UNREADABLE: 'GPUPOOL_TOKENS_UNREADABLE',
  TLS_UNREADABLE: 'GPUPOOL_TLS_UNREADABLE',
  TLS_INVALID: 'GPUPOOL_TLS_INVALID',
  AUTH_REFUSED: 'GPUPOOL_AUTH_REFUSED',
  TLS_HANDSHAKE_FAILED: 'GPUPOOL_TLS_HANDSHAKE_FAILED',
  HELLO_TIMEOUT: 'GPUPOOL_HELLO_TIMEOUT',
  QUOTA_REFUSED: 'GPUPOOL_QUOTA_REFUSED',
  NO_ROOM: 'GPUPOOL_NO_ROOM',
  TENANT_LIMIT: 'GPUPOOL_TENANT_LIMIT',
  CONNECTION_LIMIT: 'GPUPOOL_CONNECTION_LIMIT',
  CARD_UNHEALTHY: 'GPUPOOL_CARD_UNHEALTHY',
  PROTOCOL_ERROR: 'GPUPOOL_PROTOCOL_ERROR',
  BOUNDS_REFUSED: 'GPUPOOL_BOUNDS_REFUSED',
  SESSION_WORKER_FAILED: 'GPUPOOL_SESSION_WORKER_FAILED',
  USAGE: 'GPUPOOL_USAGE',
  VENDOR_UNAVAILABLE: 'GPUPOOL_VENDOR_UNAVAILABLE',
  VENDOR_INIT_FAILED: 'GPUPOOL_VENDOR_INIT_FAILED',
  VENDOR_INIT_TIMEOUT: 'GPUPOOL_VENDOR_INIT_TIMEOUT',
  VENDOR_INIT_CRASHED: 'GPUPOOL_VENDOR_INIT_CRASHED',
  VENDOR_CALL_FAILED: 'GPUPOOL_VENDOR_CALL_FAILED',
  LISTEN_FAILED: 'GPUPOOL_LISTEN_FAILED',
  HOST_UNREACHABLE: 'GPUPOOL_HOST_UNREACHABLE',
  HOST_BAD_RESPONSE: 'GPUPOOL_HOST_BAD_RESPONSE',
  DASHBOARD_BUSY: 'GPUPOOL_DASHBOARD_BUSY',
  CLUSTER_SETUP: 'GPUPOOL_CLUSTER_SETUP',
  KUBE_API: 'GPUPOOL_KUBE_API',
  CLAIM_UNUSABLE: 'GPUPOOL_CLAIM_UNUSABLE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class GpupoolError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for logs and JSON output (the bad config key, the vendor, the library's own code). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GpupoolError';
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isGpupoolError(err: unknown, code?: ErrorCode): err is GpupoolError {
  return err instanceof GpupoolError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for logs and status documents. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
