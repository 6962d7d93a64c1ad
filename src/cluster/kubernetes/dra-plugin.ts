import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { messageOf } from '../../errors.js';
import { containerEdits } from '../container-edits.js';
import { cdiDeviceId, cdiSpec, removeSpec, writeSpec } from './cdi.js';
import { Checkpoint, type PreparedClaim, type PreparedDevice } from './checkpoint.js';
import { claimJob, type ResourceClaim } from './claim-request.js';
import { draV1, DRA_V1_SERVICE, listenUnix, pluginRegistration, stopServer } from './kubelet-api.js';
import { DRIVER } from './resource-slices.js';

/**
 * The DRA kubelet plugin (dra/v1): registers with the kubelet through its plugins_registry folder
 * (type DRAPlugin), and prepares the claims allocated on this node's pods: for each, a CDI spec whose
 * edits put the client library and the claim's GPUPOOL_SERVERS, GPUPOOL_REQUEST and tenant token in
 * the container. Prepare and unprepare are idempotent and survive the plugin's restart (Checkpoint).
 */

export interface ClaimRef {
  namespace: string;
  uid: string;
  name: string;
}

export interface DraPluginOptions {
  /** The kubelet's plugins_registry folder (/var/lib/kubelet/plugins_registry). */
  registryDir: string;
  /** This plugin's folder (/var/lib/kubelet/plugins/gpupool.io): its socket and checkpoint. */
  pluginDir: string;
  cdiDir: string;
  /** The ResourceClaim from the API server; null when it is gone. */
  readClaim: (namespace: string, name: string) => Promise<ResourceClaim | null>;
  /** A pool's compute address (ws://...); refreshed by the caller when a pool is not known yet. */
  serverOf: (pool: string) => Promise<string | null>;
  /** The tenant's token for a claim's namespace (a Secret's file); undefined: none. */
  tokenFor: (namespace: string) => string | undefined;
  libraryFiles: string[];
  logger: Logger;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

export class DraPlugin {
  readonly registrationSocket: string;
  readonly pluginSocket: string;
  private readonly checkpoint: Checkpoint;
  private readonly servers: grpc.Server[] = [];
  /** Calls run one at a time: the checkpoint and the spec files change together. */
  private queue: Promise<unknown> = Promise.resolve();
  registered: boolean | null = null;

  constructor(private readonly options: DraPluginOptions) {
    this.registrationSocket = join(options.registryDir, `${DRIVER}-reg.sock`);
    this.pluginSocket = join(options.pluginDir, 'dra.sock');
    this.checkpoint = new Checkpoint(join(options.pluginDir, 'checkpoint.json'));
  }

  async start(): Promise<void> {
    mkdirSync(this.options.pluginDir, { recursive: true });
    mkdirSync(this.options.registryDir, { recursive: true });
    const dra = new grpc.Server();
    dra.addService(draV1.DRAPlugin!.service, {
      NodePrepareResources: (call: grpc.ServerUnaryCall<{ claims: ClaimRef[] }, unknown>, cb: Callback<unknown>) => this.serial(() => this.prepareAll(call.request.claims), cb),
      NodeUnprepareResources: (call: grpc.ServerUnaryCall<{ claims: ClaimRef[] }, unknown>, cb: Callback<unknown>) => this.serial(() => this.unprepareAll(call.request.claims), cb),
    });
    await listenUnix(dra, this.pluginSocket);
    this.servers.push(dra);
    // Registration last: the kubelet may call the plugin as soon as it sees this socket.
    const registration = new grpc.Server();
    registration.addService(pluginRegistration.Registration!.service, {
      GetInfo: (_call: unknown, cb: Callback<unknown>) => cb(null, { type: 'DRAPlugin', name: DRIVER, endpoint: this.pluginSocket, supported_versions: [DRA_V1_SERVICE] }),
      NotifyRegistrationStatus: (call: grpc.ServerUnaryCall<{ plugin_registered: boolean; error: string }, unknown>, cb: Callback<unknown>) => {
        this.registered = call.request.plugin_registered;
        if (call.request.plugin_registered) this.options.logger.info({ driver: DRIVER }, 'registered with the kubelet');
        else this.options.logger.error({ driver: DRIVER, error: call.request.error }, 'the kubelet refused the registration');
        cb(null, {});
      },
    });
    await listenUnix(registration, this.registrationSocket);
    this.servers.push(registration);
    this.options.logger.info({ registrationSocket: this.registrationSocket, pluginSocket: this.pluginSocket, prepared: this.checkpoint.uids().length }, 'DRA plugin serving');
  }

  async stop(): Promise<void> {
    for (const s of this.servers.splice(0).reverse()) await stopServer(s);
  }

  private serial<T>(work: () => Promise<T>, cb: Callback<T>): void {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    run.then(
      (value) => cb(null, value),
      (err: unknown) => cb({ code: grpc.status.INTERNAL, details: messageOf(err), message: messageOf(err), name: 'Error', metadata: new grpc.Metadata() }),
    );
  }

  private async prepareAll(claims: ClaimRef[]): Promise<{ claims: Record<string, { devices: PreparedDevice[]; error: string }> }> {
    const out: Record<string, { devices: PreparedDevice[]; error: string }> = {};
    for (const ref of claims) {
      try {
        out[ref.uid] = { devices: (await this.prepare(ref)).devices, error: '' };
      } catch (err) {
        this.options.logger.warn({ claim: `${ref.namespace}/${ref.name}`, uid: ref.uid, err: messageOf(err) }, 'claim not prepared');
        out[ref.uid] = { devices: [], error: messageOf(err) };
      }
    }
    return { claims: out };
  }

  private async prepare(ref: ClaimRef): Promise<PreparedClaim> {
    const done = this.checkpoint.get(ref.uid);
    if (done) return done;
    const claim = await this.options.readClaim(ref.namespace, ref.name);
    if (claim === null || claim.metadata.uid !== ref.uid) throw new Error(`ResourceClaim ${ref.namespace}/${ref.name} with UID ${ref.uid} does not exist`);
    const servers = new Map<string, string | null>();
    for (const r of claim.status?.allocation?.devices?.results ?? []) {
      if (r.driver === DRIVER && !servers.has(r.pool)) servers.set(r.pool, await this.options.serverOf(r.pool));
    }
    const job = claimJob(claim, (pool) => servers.get(pool) ?? null);
    const edits = containerEdits({ servers: job.servers, request: job.request, token: this.options.tokenFor(ref.namespace) }, this.options.libraryFiles);
    const specFile = writeSpec(this.options.cdiDir, ref.uid, cdiSpec(ref.uid, edits));
    const prepared: PreparedClaim = {
      namespace: ref.namespace,
      name: ref.name,
      specFile,
      devices: job.results.map((r) => ({ request_names: [r.request], pool_name: r.pool, device_name: r.device, cdi_device_ids: [cdiDeviceId(ref.uid)] })),
    };
    this.checkpoint.set(ref.uid, prepared);
    this.options.logger.info({ claim: `${ref.namespace}/${ref.name}`, uid: ref.uid, servers: job.servers, request: job.request }, 'claim prepared');
    return prepared;
  }

  private async unprepareAll(claims: ClaimRef[]): Promise<{ claims: Record<string, { error: string }> }> {
    const out: Record<string, { error: string }> = {};
    for (const ref of claims) {
      const prepared = this.checkpoint.get(ref.uid);
      try {
        if (prepared) {
          removeSpec(prepared.specFile);
          this.checkpoint.delete(ref.uid);
          this.options.logger.info({ claim: `${ref.namespace}/${ref.name}`, uid: ref.uid }, 'claim unprepared');
        }
        out[ref.uid] = { error: '' };
      } catch (err) {
        out[ref.uid] = { error: messageOf(err) };
      }
    }
    return { claims: out };
  }
}
