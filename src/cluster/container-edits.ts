import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import { clientLibraryDir } from '../paths.js';

/**
 * What a container needs to run its CUDA program through gpupool, whoever hands it over (a CDI spec from
 * the DRA plugin, a device plugin's Allocate, a Slurm prolog): the client library and the libraries it
 * links, mounted read-only in one folder first on LD_LIBRARY_PATH, and the job's variables.
 */

/** Where the client library is mounted inside the container. */
export const CONTAINER_LIBRARY_DIR = '/usr/lib/gpupool';

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerEdits {
  env: Record<string, string>;
  mounts: Mount[];
}

/** What the job asks: the daemon, and GPUPOOL_REQUEST's text (docs/operations.md). */
export interface JobPlacement {
  /** `ws://HOST:PORT`, with this server's own request in its query when there is one. */
  servers: string[];
  request: string;
  /** The tenant's token (docs/security.md), or none for a daemon without tokens. */
  token?: string;
}

/**
 * The client library and the shared libraries it needs beyond libc (libwslay, OpenSSL), as ldd finds
 * them on this host, so that an image without them still runs the job.
 */
export function clientLibraryFiles(libraryDir: string = clientLibraryDir): string[] {
  const library = join(libraryDir, 'libcuda.so.1');
  let text: string;
  try {
    text = execFileSync('ldd', [library], { encoding: 'utf8' });
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `cannot list the libraries of the client library ${library}: ${messageOf(err)}`, { cause: err });
  }
  const deps = [...text.matchAll(/=>\s+(\/\S+)/g)].map((m) => m[1]!).filter((p) => !/\/(libc|libm|libdl|libpthread|ld-linux[^/]*)\.so/.test(p));
  return [library, ...deps];
}

/**
 * Copies the files into `dir` (a node folder mounted at the same path in the plugin's pod) and returns
 * their paths there: CDI mounts and device plugin mounts name paths on the node, not in the pod.
 */
export function installFiles(files: string[], dir: string): string[] {
  try {
    mkdirSync(dir, { recursive: true });
    return files.map((file) => {
      const target = join(dir, basename(file));
      // Renamed into place: a container starting meanwhile mounts the old file or the new, never half of one.
      copyFileSync(file, `${target}.tmp`);
      renameSync(`${target}.tmp`, target);
      return target;
    });
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `cannot install the client library into ${dir}: ${messageOf(err)}`, { cause: err });
  }
}

/** The token in a file (a mounted Secret's key): its first line, without the newline. */
export function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n')[0]!.trim();
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `cannot read the tenant's token from ${file}: ${messageOf(err)}`, { cause: err });
  }
}

export function containerEdits(job: JobPlacement, libraryFiles: string[]): ContainerEdits {
  const env: Record<string, string> = {
    LD_LIBRARY_PATH: CONTAINER_LIBRARY_DIR,
    GPUPOOL_SERVERS: job.servers.join(','),
  };
  if (job.request !== '') env.GPUPOOL_REQUEST = job.request;
  if (job.token !== undefined && job.token !== '') env.GPUPOOL_TOKEN = job.token;
  const mounts = libraryFiles.map((hostPath) => ({ hostPath, containerPath: `${CONTAINER_LIBRARY_DIR}/${basename(hostPath)}`, readOnly: true }));
  return { env, mounts };
}
