import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../../paths.js';

/** The kubelet's .proto files (proto/README.md says where they come from). */
export const PROTO_DIR = join(packageRoot, 'src', 'cluster', 'kubernetes', 'proto');

/** Snake-case field names as on the wire, int64 as numbers, absent fields as their defaults. */
const LOAD_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

type Services = Record<string, grpc.ServiceClientConstructor>;

function load(file: string, pkg: string[]): Services {
  let ns: unknown = grpc.loadPackageDefinition(protoLoader.loadSync(join(PROTO_DIR, file), LOAD_OPTIONS));
  for (const part of pkg) ns = (ns as Record<string, unknown>)[part];
  return ns as Services;
}

/** dra/v1: the DRAPlugin service a DRA kubelet plugin serves. */
export const draV1 = load('dra-v1.proto', ['k8s', 'io', 'kubelet', 'pkg', 'apis', 'dra', 'v1']);
/** pluginregistration/v1: the Registration service every plugin in plugins_registry serves. */
export const pluginRegistration = load('pluginregistration-v1.proto', ['pluginregistration']);
/** deviceplugin/v1beta1: Registration (served by the kubelet) and DevicePlugin (served by the plugin). */
export const devicePluginV1beta1 = load('deviceplugin-v1beta1.proto', ['v1beta1']);

/** The service name a DRA plugin lists in `supported_versions` to say it serves dra/v1. */
export const DRA_V1_SERVICE = 'v1.DRAPlugin';
export const DEVICE_PLUGIN_VERSION = 'v1beta1';

export function unixAddress(path: string): string {
  return `unix://${path}`;
}

/** Serves `server` on a Unix socket, replacing a stale socket file left by an earlier run. */
export async function listenUnix(server: grpc.Server, path: string): Promise<void> {
  const { rmSync } = await import('node:fs');
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(unixAddress(path), grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
}

/** Stops taking calls and ends open streams: a plugin that stops must not leave the kubelet waiting. */
export function stopServer(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
