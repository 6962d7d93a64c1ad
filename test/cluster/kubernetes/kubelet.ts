import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { devicePluginV1beta1, draV1, listenUnix, pluginRegistration, stopServer, unixAddress } from '../../../src/cluster/kubernetes/kubelet-api.js';

/**
 * The kubelet's side of its plugin APIs, on real Unix sockets and the same .proto files: what the
 * kubelet's plugin watcher does with a DRA plugin's registration socket, the DRAPlugin calls it makes,
 * and the device manager's kubelet.sock (Registration) and ListAndWatch/Allocate calls.
 */

type Unary = (req: unknown, opts: { deadline: Date }, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

function call<T>(client: grpc.Client, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    ((client as unknown as Record<string, Unary>)[method]!).call(client, request, { deadline: new Date(Date.now() + 10_000) }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

export interface PluginInfo {
  type: string;
  name: string;
  endpoint: string;
  supported_versions: string[];
}

/** What the plugin watcher does on seeing a socket in plugins_registry: GetInfo, then NotifyRegistrationStatus. */
export async function registerDraPlugin(registrationSocket: string): Promise<PluginInfo> {
  const client = new pluginRegistration.Registration!(unixAddress(registrationSocket), grpc.credentials.createInsecure());
  try {
    const info = await call<PluginInfo>(client, 'GetInfo', {});
    await call(client, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });
    return info;
  } finally {
    client.close();
  }
}

export interface ClaimRef {
  namespace: string;
  uid: string;
  name: string;
}

export class DraClient {
  private readonly client: grpc.Client;

  constructor(endpoint: string) {
    this.client = new draV1.DRAPlugin!(unixAddress(endpoint), grpc.credentials.createInsecure());
  }

  prepare(claims: ClaimRef[]): Promise<{ claims: Record<string, { devices: { request_names: string[]; pool_name: string; device_name: string; cdi_device_ids: string[] }[]; error: string }> }> {
    return call(this.client, 'NodePrepareResources', { claims });
  }

  unprepare(claims: ClaimRef[]): Promise<{ claims: Record<string, { error: string }> }> {
    return call(this.client, 'NodeUnprepareResources', { claims });
  }

  close(): void {
    this.client.close();
  }
}

export interface Registration {
  version: string;
  endpoint: string;
  resource_name: string;
}

export interface ListedDevice {
  ID: string;
  health: string;
}

/** The device manager: serves Registration on kubelet.sock, and on each Register opens ListAndWatch to the plugin. */
export class DeviceManager {
  readonly registrations: Registration[] = [];
  /** Every list the plugin sent, newest last. */
  readonly lists: ListedDevice[][] = [];
  private server: grpc.Server | null = null;
  private plugin: grpc.Client | null = null;
  private stream: grpc.ClientReadableStream<unknown> | null = null;

  constructor(readonly dir: string) {}

  get socket(): string {
    return join(this.dir, 'kubelet.sock');
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    server.addService(devicePluginV1beta1.Registration!.service, {
      Register: (c: grpc.ServerUnaryCall<Registration, unknown>, cb: (e: null, v: unknown) => void) => {
        this.registrations.push(c.request);
        this.watch(join(this.dir, c.request.endpoint));
        cb(null, {});
      },
    });
    await listenUnix(server, this.socket);
    this.server = server;
  }

  /** As a kubelet restart does: its socket and the plugins' sockets are removed, then kubelet.sock comes back. */
  async restart(pluginSocket: string): Promise<void> {
    await this.stop();
    rmSync(pluginSocket, { force: true });
    await this.start();
  }

  async stop(): Promise<void> {
    this.stream?.cancel();
    this.plugin?.close();
    this.stream = null;
    this.plugin = null;
    if (this.server) await stopServer(this.server);
    this.server = null;
  }

  private watch(endpoint: string): void {
    this.stream?.cancel();
    this.plugin?.close();
    this.plugin = new devicePluginV1beta1.DevicePlugin!(unixAddress(endpoint), grpc.credentials.createInsecure());
    const stream = (this.plugin as unknown as { ListAndWatch: (req: unknown) => grpc.ClientReadableStream<{ devices: ListedDevice[] }> }).ListAndWatch({});
    stream.on('data', (m: { devices: ListedDevice[] }) => this.lists.push(m.devices));
    stream.on('error', () => undefined);
    this.stream = stream;
  }

  allocate(ids: string[]): Promise<{ container_responses: { envs: Record<string, string>; mounts: { container_path: string; host_path: string; read_only: boolean }[] }[] }> {
    if (!this.plugin) throw new Error('no plugin registered');
    return call(this.plugin, 'Allocate', { container_requests: [{ devices_ids: ids }] });
  }
}
