import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { parseListen } from './address.js';
import { configSchema, defaultConfig, type DaemonConfig } from './schema.js';
import { parseQuotaSetting } from '../sharing/quota.js';

/** A partial configuration as one source (file, environment, flags) gives it. */
export type ConfigLayer = { [K in keyof DaemonConfig]?: DaemonConfig[K] extends object ? Partial<DaemonConfig[K]> : DaemonConfig[K] };

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(configSchema);

/** Environment variables the daemon reads, and how each maps onto the configuration. */
export const ENVIRONMENT: Record<string, (value: string) => ConfigLayer> = {
  GPUPOOL_LISTEN: (v) => ({ listen: v }),
  GPUPOOL_LOCAL_SOCKET: (v) => ({ localSocket: v === 'none' ? { enabled: false } : { enabled: true, path: v } }),
  GPUPOOL_HOSTNAME: (v) => ({ hostname: v }),
  GPUPOOL_LOG_LEVEL: (v) => ({ logLevel: v as DaemonConfig['logLevel'] }),
  GPUPOOL_VENDORS: (v) => ({ vendors: { enabled: splitList(v, ',') as DaemonConfig['vendors']['enabled'] } }),
  GPUPOOL_LIBRARY_PATH: (v) => ({ vendors: { libraryPath: splitList(v, ':') } }),
  GPUPOOL_SAMPLE_INTERVAL_MS: (v) => ({ sampling: { intervalMs: toNumber(v) } }),
  GPUPOOL_POOL_PEERS: (v) => ({ pool: { peers: splitList(v, ',') } }),
};

function splitList(value: string, separator: string): string[] {
  return value.split(separator).map((s) => s.trim()).filter((s) => s.length > 0);
}

// Left as NaN when not a number, which validation then rejects, naming the variable.
function toNumber(value: string): number {
  return value.trim() === '' ? Number.NaN : Number(value);
}

function describe(error: ErrorObject): { key: string; message: string } {
  const path = error.instancePath.split('/').filter(Boolean);
  if (error.keyword === 'additionalProperties') {
    path.push(String((error.params as { additionalProperty: string }).additionalProperty));
    return { key: path.join('.'), message: 'is not a known setting' };
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ');
    return { key: path.join('.'), message: `must be one of ${allowed}` };
  }
  return { key: path.join('.') || '(root)', message: error.message ?? 'is invalid' };
}

/** Validates one layer and names its source and the bad key in the error. */
export function checkLayer(layer: unknown, source: string): ConfigLayer {
  if (!validate(layer)) {
    const problems = (validate.errors ?? []).map(describe);
    const text = problems.map((p) => `${p.key} ${p.message}`).join('; ');
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `${source}: ${text}`, {
      details: { source, keys: problems.map((p) => p.key) },
    });
  }
  return layer as ConfigLayer;
}

export function readConfigFile(path: string): ConfigLayer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CONFIG_UNREADABLE, `config file ${path}: ${messageOf(err)}`, { cause: err, details: { path } });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `config file ${path}: not valid JSON (${messageOf(err)})`, {
      cause: err,
      details: { path },
    });
  }
  return checkLayer(parsed, `config file ${path}`);
}

export function environmentLayer(env: NodeJS.ProcessEnv): ConfigLayer {
  let merged: ConfigLayer = {};
  for (const [name, map] of Object.entries(ENVIRONMENT)) {
    const value = env[name];
    if (value !== undefined) merged = mergeLayers(merged, checkLayer(map(value), `environment ${name}`));
  }
  return merged;
}

export function mergeLayers<T extends object>(base: T, over: object): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      isPlainObject(value) && isPlainObject(current) ? mergeLayers(current, value) : value;
  }
  return out as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface ConfigSources {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: ConfigLayer;
}

/** Defaults, then the file, then the environment, then flags: the later source wins, key by key. */
export function loadConfig(sources: ConfigSources): DaemonConfig {
  const env = sources.env ?? {};
  const file = sources.file ?? env.GPUPOOL_CONFIG;
  let config: DaemonConfig = defaultConfig();
  if (file !== undefined) config = mergeLayers(config, readConfigFile(file));
  config = mergeLayers(config, environmentLayer(env));
  if (sources.flags) config = mergeLayers(config, checkLayer(sources.flags, 'command line'));
  checkLayer(config, 'configuration');
  parseListen(config.listen);
  if (config.statusListen !== null) checkStatusListen(config);
  checkTlsSettings(config.tls);
  parseQuotaSetting(config.sharing.defaultQuota);
  parseQuotaSetting(config.sharing.tenantMaxMemory, 'sharing.tenantMaxMemory', "all the host's cards' memory");
  const { pingIntervalMs, clientGraceMs } = config.compute;
  if (clientGraceMs !== null && clientGraceMs <= pingIntervalMs) {
    // A grace no longer than the ping interval would drop healthy clients between two pings.
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `configuration: compute.clientGraceMs (${clientGraceMs}) must be more than compute.pingIntervalMs (${pingIntervalMs})`, {
      details: { source: 'configuration', keys: ['compute.clientGraceMs'] },
    });
  }
  return config;
}

function invalid(key: string, message: string): GpupoolError {
  return new GpupoolError(ErrorCodes.CONFIG_INVALID, `${key}: ${message}`, { details: { key } });
}

function checkStatusListen(config: DaemonConfig): void {
  const status = parseListen(config.statusListen!, 'statusListen');
  const main = parseListen(config.listen);
  if (status.port !== 0 && status.port === main.port && status.host === main.host) {
    throw invalid('statusListen', `"${config.statusListen}" is the listen address itself; give status its own address or leave statusListen out`);
  }
}

/** A certificate needs its key and the other way round; client certificates need the daemon's own. */
function checkTlsSettings(tls: DaemonConfig['tls']): void {
  if ((tls.cert === null) !== (tls.key === null)) {
    throw invalid(tls.cert === null ? 'tls.cert' : 'tls.key', 'tls.cert and tls.key go together: give both (--tls-cert, --tls-key) or neither');
  }
  if (tls.clientCa !== null && tls.cert === null) {
    throw invalid('tls.clientCa', 'client certificates need TLS: give the daemon its own certificate and key too (tls.cert, tls.key)');
  }
}
