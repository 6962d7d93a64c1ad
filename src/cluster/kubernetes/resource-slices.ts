import type { StatusDocument } from '../../server/status.js';
import { parseQuotaSetting } from '../../sharing/quota.js';
import { bytesQuantity, shareQuantity } from './quantity.js';
import type { KubeApi, KubeObject } from './kube-api.js';

/**
 * The ResourceSlices (resource.k8s.io/v1) that describe one gpupool daemon's cards to the Kubernetes
 * scheduler: one pool per daemon host, one device per card, its memory and its share of time as
 * consumable capacity (several claims may take parts of one card), bad health as a taint, and which
 * nodes may use it (the daemon's own node, or every node: a remote card).
 */

/** The DRA driver's name, in claims' results, slices and CDI device names. */
export const DRIVER = 'gpupool.io';
export const SLICE_LABEL = 'app.kubernetes.io/managed-by';
export const SLICE_LABEL_VALUE = 'gpupool';
/** The taint an unhealthy card carries: new claims do not get it. */
export const UNHEALTHY_TAINT = 'gpupool.io/unhealthy';

/** The smallest memory a claim may take of a card, and the step of its amounts. */
export const MEMORY_STEP = 1024 ** 2;
/** The smallest share of a card a claim may take, and the step of its shares. */
export const SHARE_STEP = 0.01;

/** Which nodes can use a daemon's cards: its own node, the nodes with a label, or all of them. */
export type Reach = { node: string } | { labels: Record<string, string> } | { allNodes: true };

export interface ResourceSlice extends KubeObject {
  spec: {
    driver: string;
    pool: { name: string; generation: number; resourceSliceCount: number };
    nodeName?: string;
    nodeSelector?: NodeSelector;
    allNodes?: boolean;
    devices: SliceDevice[];
  };
}

interface NodeSelector {
  nodeSelectorTerms: { matchExpressions: { key: string; operator: 'In'; values: string[] }[] }[];
}

export interface SliceDevice {
  name: string;
  attributes: Record<string, { string?: string; int?: number; bool?: boolean }>;
  capacity: Record<string, { value: string; requestPolicy?: { default?: string; validRange?: { min: string; max?: string; step?: string } } }>;
  allowMultipleAllocations: boolean;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'NoExecute' }[];
}

/** A DNS label or subdomain made from a host name: lower case, other characters as `-`. */
export function poolName(hostname: string): string {
  const name = hostname
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63);
  return name === '' ? 'host' : name;
}

export function deviceName(ordinal: number): string {
  return `gpu-${ordinal}`;
}

/** The card's ordinal from a device name this driver published; null for any other name. */
export function deviceOrdinal(name: string): number | null {
  const m = /^gpu-(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
}

export function sliceName(pool: string): string {
  return `gpupool.io-${pool}`.slice(0, 253);
}

function selector(reach: Reach): Pick<ResourceSlice['spec'], 'nodeName' | 'nodeSelector' | 'allNodes'> {
  if ('node' in reach) return { nodeName: reach.node };
  if ('allNodes' in reach) return { allNodes: true };
  return { nodeSelector: { nodeSelectorTerms: [{ matchExpressions: Object.entries(reach.labels).map(([key, value]) => ({ key, operator: 'In', values: [value] })) }] } };
}

/** The default memory a claim that names none takes: the daemon's default quota, on the MEMORY_STEP grid. */
function defaultMemory(setting: string | undefined, totalMem: number): number {
  const quota = parseQuotaSetting(setting ?? '25%');
  const bytes = 'fraction' in quota ? totalMem * quota.fraction : quota.bytes;
  return Math.max(MEMORY_STEP, Math.floor(Math.min(bytes, totalMem) / MEMORY_STEP) * MEMORY_STEP);
}

/** The slice for one daemon, from its status document; `server` is its compute address (ws://...). */
export function resourceSlice(status: StatusDocument, server: string, reach: Reach, generation: number): ResourceSlice {
  const pool = poolName(status.host.hostname);
  const sharing = status.compute.sharing;
  const devices: SliceDevice[] = status.compute.cards.map((card) => {
    const memory = Math.floor(card.totalMem / MEMORY_STEP) * MEMORY_STEP;
    const device: SliceDevice = {
      name: deviceName(card.ordinal),
      attributes: {
        model: { string: card.name },
        ordinal: { int: card.ordinal },
        server: { string: server },
        ...(card.uuid ? { uuid: { string: card.uuid } } : {}),
      },
      capacity: {
        memory: {
          value: bytesQuantity(memory),
          requestPolicy: { default: bytesQuantity(defaultMemory(sharing?.defaultQuota, memory)), validRange: { min: bytesQuantity(MEMORY_STEP), step: bytesQuantity(MEMORY_STEP) } },
        },
        share: {
          value: '1',
          requestPolicy: { default: shareQuantity(sharing?.defaultShare ?? 0.25), validRange: { min: shareQuantity(SHARE_STEP), max: '1', step: shareQuantity(SHARE_STEP) } },
        },
      },
      allowMultipleAllocations: true,
    };
    if (card.health === 'unhealthy') device.taints = [{ key: UNHEALTHY_TAINT, value: 'true', effect: 'NoSchedule' }];
    return device;
  });
  return {
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceSlice',
    metadata: { name: sliceName(pool), labels: { [SLICE_LABEL]: SLICE_LABEL_VALUE } },
    spec: { driver: DRIVER, pool: { name: pool, generation, resourceSliceCount: 1 }, ...selector(reach), devices },
  };
}

export const SLICES_PATH = '/apis/resource.k8s.io/v1/resourceslices';

/** The ResourceSlices gpupool's controller published (by their label). */
export function publishedSlices(api: KubeApi): Promise<ResourceSlice[]> {
  return api.list<ResourceSlice>(`${SLICES_PATH}?labelSelector=${encodeURIComponent(`${SLICE_LABEL}=${SLICE_LABEL_VALUE}`)}`);
}
