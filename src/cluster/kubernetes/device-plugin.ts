import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.js';
import { fetchStatus } from '../../server/status-client.js';
import type { ComputeCard } from '../../compute/cards.js';
import { containerEdits } from '../container-edits.js';
import { computeAddress } from '../daemons.js';
import { DEVICE_PLUGIN_VERSION, devicePluginV1beta1, listenUnix, stopServer, unixAddress } from './kubelet-api.js';

/**
 * The classic device plugin (deviceplugin/v1beta1) for clusters without DRA: the node's daemon's cards,
 * each split into `split` devices of resource `gpupool.io/gpu` (a pod asking for one gets 1/split of a
 * card's memory and time). Health follows the daemon's status (an Xid makes a card unhealthy, and so
 * its devices). It re-registers when the kubelet restarts (a new kubelet.sock, its own socket removed).
 */

export const RESOURCE_NAME = 'gpupool.io/gpu';
export const SOCKET_NAME = 'gpupool.sock';

export interface DevicePluginOptions {
  /** The kubelet's device-plugins folder (/var/lib/kubelet/device-plugins). */
  deviceDir: string;
  /** The node's daemon, `http://HOST:PORT`. */
  daemon: string;
  split: number;
  pollMs: number;
  token?: string;
  libraryFiles: string[];
  logger: Logger;
  statusTimeoutMs?: number;
}

export interface PluginDevice {
  ID: string;
  health: 'Healthy' | 'Unhealthy';
}

interface Slot {
  card: ComputeCard;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

export function slotId(ordinal: number, slot: number): string {
  return `card${ordinal}-${slot}`;
}

export class DevicePlugin {
  readonly socket: string;
  private server: grpc.Server | null = null;
  private slots = new Map<string, Slot>();
  private streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private kubeletInode: number | null = null;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;
  registrations = 0;

  constructor(private readonly options: DevicePluginOptions) {
    this.socket = join(options.deviceDir, SOCKET_NAME);
  }

  devices(): PluginDevice[] {
    return [...this.slots].map(([ID, { card }]) => ({ ID, health: card.health === 'unhealthy' ? 'Unhealthy' : 'Healthy' }));
  }

  async start(): Promise<void> {
    await this.refresh();
    await this.serve();
    await this.register();
    this.timer = setInterval(() => {
      this.polling = this.polling.then(() => this.poll());
    }, this.options.pollMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await this.closeServer();
  }

  private async closeServer(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    if (this.server) await stopServer(this.server);
    this.server = null;
  }

  private async serve(): Promise<void> {
    const server = new grpc.Server();
    server.addService(devicePluginV1beta1.DevicePlugin!.service, {
      GetDevicePluginOptions: (_c: unknown, cb: Callback<unknown>) => cb(null, { pre_start_required: false, get_preferred_allocation_available: false }),
      ListAndWatch: (stream: grpc.ServerWritableStream<unknown, unknown>) => {
        this.streams.add(stream);
        stream.on('cancelled', () => this.streams.delete(stream));
        stream.write({ devices: this.devices() });
      },
      GetPreferredAllocation: (_c: unknown, cb: Callback<unknown>) => cb(null, { container_responses: [] }),
      Allocate: (call: grpc.ServerUnaryCall<{ container_requests: { devices_ids: string[] }[] }, unknown>, cb: Callback<unknown>) => {
        try {
          cb(null, { container_responses: call.request.container_requests.map((r) => this.allocate(r.devices_ids)) });
        } catch (err) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: messageOf(err), message: messageOf(err), name: 'Error', metadata: new grpc.Metadata() });
        }
      },
      PreStartContainer: (_c: unknown, cb: Callback<unknown>) => cb(null, {}),
    });
    await listenUnix(server, this.socket);
    this.server = server;
  }

  private register(): Promise<void> {
    const kubeletSocket = join(this.options.deviceDir, 'kubelet.sock');
    this.kubeletInode = inode(kubeletSocket);
    const client = new devicePluginV1beta1.Registration!(unixAddress(kubeletSocket), grpc.credentials.createInsecure());
    return new Promise<void>((resolve, reject) => {
      const deadline = new Date(Date.now() + 5000);
      (client as unknown as { Register: (req: unknown, opts: unknown, cb: (err: Error | null) => void) => void }).Register(
        { version: DEVICE_PLUGIN_VERSION, endpoint: SOCKET_NAME, resource_name: RESOURCE_NAME, options: { pre_start_required: false, get_preferred_allocation_available: false } },
        { deadline },
        (err) => {
          client.close();
          if (err) return reject(err);
          this.registrations += 1;
          this.options.logger.info({ resource: RESOURCE_NAME, devices: this.slots.size }, 'registered with the kubelet');
          resolve();
        },
      );
    });
  }

  /** Reads the daemon's cards; true when the devices or their health changed. */
  private async refresh(): Promise<boolean> {
    const status = await fetchStatus(new URL('/v1/status', this.options.daemon), this.options.statusTimeoutMs ?? 5000);
    const before = JSON.stringify(this.devices());
    const slots = new Map<string, Slot>();
    for (const card of status.compute.cards) for (let i = 0; i < this.options.split; i += 1) slots.set(slotId(card.ordinal, i), { card });
    this.slots = slots;
    return JSON.stringify(this.devices()) !== before;
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      if (await this.refresh()) {
        this.options.logger.info({ devices: this.devices() }, 'devices changed');
        for (const s of this.streams) s.write({ devices: this.devices() });
      }
    } catch (err) {
      this.options.logger.warn({ err: messageOf(err) }, 'cannot read the daemon: devices kept as they were');
    }
    // A restarted kubelet makes a new kubelet.sock and removes the plugins' sockets: serve again and re-register.
    const now = inode(join(this.options.deviceDir, 'kubelet.sock'));
    if (now !== null && (now !== this.kubeletInode || inode(this.socket) === null)) {
      try {
        await this.closeServer();
        await this.serve();
        await this.register();
      } catch (err) {
        this.kubeletInode = null;
        this.options.logger.warn({ err: messageOf(err) }, 'cannot register with the kubelet yet');
      }
    }
  }

  /** What a container gets for these devices: the daemon with the cards' count, and per card the memory and share of its slots there. */
  private allocate(ids: string[]): { envs: Record<string, string>; mounts: { container_path: string; host_path: string; read_only: boolean }[] } {
    const perCard = new Map<number, { card: ComputeCard; n: number }>();
    for (const id of ids) {
      const slot = this.slots.get(id);
      if (!slot) throw new Error(`unknown device ${id} (the plugin offers ${[...this.slots.keys()].join(', ')})`);
      const e = perCard.get(slot.card.ordinal) ?? { card: slot.card, n: 0 };
      e.n += 1;
      perCard.set(slot.card.ordinal, e);
    }
    const most = Math.max(...[...perCard.values()].map((e) => e.n));
    const smallest = Math.min(...[...perCard.values()].map((e) => e.card.totalMem));
    const mem = Math.floor((smallest * most) / this.options.split);
    const share = Number((most / this.options.split).toFixed(3));
    const server = `${computeAddress(this.options.daemon)}?gpus=${perCard.size}&mem=${mem}&share=${share}`;
    const edits = containerEdits({ servers: [server], request: '', token: this.options.token }, this.options.libraryFiles);
    return { envs: edits.env, mounts: edits.mounts.map((m) => ({ container_path: m.containerPath, host_path: m.hostPath, read_only: m.readOnly })) };
  }
}

function inode(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}
