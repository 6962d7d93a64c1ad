import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerEdits } from '../container-edits.js';
import { DRIVER } from './resource-slices.js';

/**
 * Container Device Interface specs: the container runtime (containerd, CRI-O, podman) applies a CDI
 * device's edits to the container that names it. gpupool's devices have no device node: their edits
 * are the client library's mounts and the job's variables. One spec file per prepared claim.
 */

export const CDI_KIND = `${DRIVER}/claim`;
/** 0.5.0 carries env and mounts, and is read by every runtime with CDI support (podman 4.3 on). */
export const CDI_VERSION = '0.5.0';
export const DEFAULT_CDI_DIR = '/var/run/cdi';

export interface CdiSpec {
  cdiVersion: string;
  kind: string;
  devices: { name: string; containerEdits: { env: string[]; mounts: { hostPath: string; containerPath: string; options: string[] }[] } }[];
}

/** The fully qualified CDI device name the runtime is given: `gpupool.io/claim=UID`. */
export function cdiDeviceId(name: string): string {
  return `${CDI_KIND}=${name}`;
}

export function cdiSpec(name: string, edits: ContainerEdits): CdiSpec {
  return {
    cdiVersion: CDI_VERSION,
    kind: CDI_KIND,
    devices: [
      {
        name,
        containerEdits: {
          env: Object.entries(edits.env).map(([k, v]) => `${k}=${v}`),
          mounts: edits.mounts.map((m) => ({ hostPath: m.hostPath, containerPath: m.containerPath, options: ['bind', 'nosuid', 'nodev', ...(m.readOnly ? ['ro'] : [])] })),
        },
      },
    ],
  };
}

export function specPath(cdiDir: string, name: string): string {
  return join(cdiDir, `gpupool.io-claim_${name}.json`);
}

/** Writes the spec (0600: it holds the tenant's token) whole, then renames it into place. */
export function writeSpec(cdiDir: string, name: string, spec: CdiSpec): string {
  mkdirSync(cdiDir, { recursive: true });
  const path = specPath(cdiDir, name);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(spec, null, 2), { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

export function removeSpec(path: string): void {
  rmSync(path, { force: true });
}
