import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import type { Peer, PoolMembership } from '../sharing/membership.js';
import type { KubeApi } from './kubernetes/kube-api.js';
import { publishedSlices } from './kubernetes/resource-slices.js';

/**
 * Pool membership from the cluster engine, behind PoolMembership (beside the static `pool.peers`):
 * the daemons the DRA controller published ResourceSlices for, or the Slurm nodes that offer the
 * gpupool GRES. Each answer is read anew, so the pool follows the engine.
 */

const run = promisify(execFile);

/** A daemon's status address from its compute address (`ws://` to `http://`, `wss://` to `https://`). */
function statusAddress(server: string): string {
  return server.replace(/^ws/, 'http').replace(/[?#].*$/, '').replace(/\/+$/, '');
}

/** The daemons named by the `server` attribute of the ResourceSlices gpupool's controller published. */
export class KubernetesMembership implements PoolMembership {
  constructor(private readonly api: KubeApi) {}

  async peers(): Promise<Peer[]> {
    const slices = await publishedSlices(this.api);
    const urls = new Set<string>();
    for (const slice of slices) for (const d of slice.spec.devices) if (d.attributes.server?.string) urls.add(statusAddress(d.attributes.server.string));
    return [...urls].sort().map((url) => ({ url }));
  }
}

/** The nodes whose GRES include `gpupool` (sinfo), each with a daemon on `port` at its NodeAddr (the address Slurm itself uses). */
export class SlurmMembership implements PoolMembership {
  constructor(
    private readonly port: number,
    private readonly sinfo = 'sinfo',
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async peers(): Promise<Peer[]> {
    let stdout: string;
    try {
      ({ stdout } = await run(this.sinfo, ['-h', '-N', '-o', '%o %G'], { env: this.env }));
    } catch (err) {
      throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `${this.sinfo}: ${messageOf(err)}`, { cause: err });
    }
    const nodes = new Set<string>();
    for (const line of stdout.split('\n')) {
      const [node, gres] = line.trim().split(/\s+/);  // NodeAddr, GRES
      if (node && gres && /(^|,)gpupool(:|\(|,|$)/.test(gres)) nodes.add(node);
    }
    return [...nodes].sort().map((node) => ({ url: `http://${node.includes(':') ? `[${node}]` : node}:${this.port}` }));
  }
}
