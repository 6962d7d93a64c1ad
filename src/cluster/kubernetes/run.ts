import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../cli/logger.js';
import { ErrorCodes, GpupoolError } from '../../errors.js';
import { StaticMembership } from '../../sharing/membership.js';
import { clientLibraryFiles, installFiles, readToken } from '../container-edits.js';
import { readDaemons } from '../daemons.js';
import { untilSignal } from '../wait-for-signal.js';
import { DEFAULT_CDI_DIR } from './cdi.js';
import type { ResourceClaim } from './claim-request.js';
import { DraController } from './controller.js';
import { DevicePlugin } from './device-plugin.js';
import { DraPlugin } from './dra-plugin.js';
import { inClusterOptions, KubeApi } from './kube-api.js';
import { poolName, publishedSlices, type Reach } from './resource-slices.js';

/** The `gpupool kube ...` components, wired from their flags; each runs until SIGTERM or SIGINT. */

export interface ApiFlags {
  apiServer?: string;
  apiTokenFile?: string;
  apiCa?: string;
}

export interface DraPluginFlags extends ApiFlags {
  daemons?: string;
  registryDir: string;
  pluginDir: string;
  cdiDir?: string;
  tokenFile?: string;
  tokenDir?: string;
  installDir?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface ControllerFlags extends ApiFlags {
  daemons: string;
  reach: string;
  intervalMs: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface DevicePluginFlags {
  daemon: string;
  deviceDir: string;
  split: string;
  pollMs: string;
  tokenFile?: string;
  installDir?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** The client library's files as containers mount them: where they are, or copied to the node's `installDir`. */
function libraryFiles(installDir: string | undefined): string[] {
  const files = clientLibraryFiles();
  return installDir === undefined ? files : installFiles(files, installDir);
}

function kubeApi(flags: ApiFlags): KubeApi {
  if (flags.apiServer === undefined) return new KubeApi(inClusterOptions());
  return new KubeApi({
    server: flags.apiServer,
    ...(flags.apiTokenFile ? { token: readToken(flags.apiTokenFile) } : {}),
    ...(flags.apiCa ? { ca: readFileSync(flags.apiCa) } : {}),
  });
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new GpupoolError(ErrorCodes.USAGE, `${name} ${text} is not a whole number of at least 1`);
  return n;
}

/** `--reach node` (each daemon on the node of its host name), `all` (remote cards: every node), or `label:KEY=VALUE`. */
export function parseReach(text: string): (pool: string) => Reach {
  if (text === 'node') return (pool) => ({ node: pool });
  if (text === 'all') return () => ({ allNodes: true });
  const m = /^label:([^=]+)=(.*)$/.exec(text);
  if (m) return () => ({ labels: { [m[1]!]: m[2]! } });
  throw new GpupoolError(ErrorCodes.USAGE, `--reach ${text} is not node, all or label:KEY=VALUE`);
}

/** Each published pool's daemon, from its devices' `server` attribute. */
async function slicePools(api: KubeApi): Promise<Map<string, string>> {
  const slices = await publishedSlices(api);
  const out = new Map<string, string>();
  for (const s of slices) {
    const server = s.spec.devices.find((d) => d.attributes.server?.string)?.attributes.server?.string;
    if (server) out.set(s.spec.pool.name, server);
  }
  return out;
}

export async function runDraPlugin(flags: DraPluginFlags): Promise<void> {
  const logger = createLogger(flags.logLevel);
  const api = kubeApi(flags);
  const membership = new StaticMembership(list(flags.daemons ?? ''));
  const pools = new Map<string, string>();
  const fixedToken = flags.tokenFile ? readToken(flags.tokenFile) : undefined;
  const plugin = new DraPlugin({
    registryDir: flags.registryDir,
    pluginDir: flags.pluginDir,
    cdiDir: flags.cdiDir ?? DEFAULT_CDI_DIR,
    readClaim: (ns, name) => api.get<ResourceClaim>(`/apis/resource.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/resourceclaims/${encodeURIComponent(name)}`),
    // A pool's daemon: from the ResourceSlices (the `server` attribute the controller publishes, so a
    // claim may name a card on any host), else from --daemons; read again whenever a pool is not known.
    serverOf: async (pool) => {
      if (!pools.has(pool)) {
        for (const [name, server] of await slicePools(api)) pools.set(name, server);
        for (const d of await readDaemons(membership, 5000)) if (d.status) pools.set(poolName(d.status.host.hostname), d.server);
      }
      return pools.get(pool) ?? null;
    },
    // One Secret per namespace, mounted as a folder of files named by namespace; else one token for all.
    tokenFor: (ns) => (flags.tokenDir && existsSync(join(flags.tokenDir, ns)) ? readToken(join(flags.tokenDir, ns)) : fixedToken),
    libraryFiles: libraryFiles(flags.installDir),
    logger,
  });
  await plugin.start();
  await untilSignal();
  await plugin.stop();
}

export async function runController(flags: ControllerFlags): Promise<void> {
  const logger = createLogger(flags.logLevel);
  const controller = new DraController({ api: kubeApi(flags), membership: new StaticMembership(list(flags.daemons)), reach: parseReach(flags.reach), statusTimeoutMs: 5000, logger });
  controller.start(positive('--interval-ms', flags.intervalMs));
  await untilSignal();
  await controller.stop();
}

export async function runDevicePlugin(flags: DevicePluginFlags): Promise<void> {
  const logger = createLogger(flags.logLevel);
  const plugin = new DevicePlugin({
    deviceDir: flags.deviceDir,
    daemon: flags.daemon,
    split: positive('--split', flags.split),
    pollMs: positive('--poll-ms', flags.pollMs),
    ...(flags.tokenFile ? { token: readToken(flags.tokenFile) } : {}),
    libraryFiles: libraryFiles(flags.installDir),
    logger,
  });
  await plugin.start();
  await untilSignal();
  await plugin.stop();
}
