import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, GpupoolError, messageOf } from '../../errors.js';

/**
 * The claims the DRA plugin has prepared, kept in a file so that a restarted plugin answers the
 * kubelet's repeated NodePrepareResources with what it gave before, and can still unprepare them.
 * Written whole to a temporary file and renamed over the old one, so a crash leaves either.
 */

export interface PreparedDevice {
  request_names: string[];
  pool_name: string;
  device_name: string;
  cdi_device_ids: string[];
}

export interface PreparedClaim {
  namespace: string;
  name: string;
  devices: PreparedDevice[];
  /** The CDI spec file written for it. */
  specFile: string;
}

interface CheckpointFile {
  version: 1;
  claims: Record<string, PreparedClaim>;
}

export class Checkpoint {
  private claims: Map<string, PreparedClaim>;

  constructor(private readonly path: string) {
    this.claims = new Map(Object.entries(Checkpoint.read(path).claims));
  }

  private static read(path: string): CheckpointFile {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, claims: {} };
      throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `cannot read the checkpoint ${path}: ${messageOf(err)}`, { cause: err });
    }
    try {
      const doc = JSON.parse(text) as CheckpointFile;
      if (doc.version !== 1 || typeof doc.claims !== 'object' || doc.claims === null) throw new Error('not a version 1 checkpoint');
      return doc;
    } catch (err) {
      throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `the checkpoint ${path} is damaged (${messageOf(err)}); move it away to start afresh`, { cause: err });
    }
  }

  get(uid: string): PreparedClaim | undefined {
    return this.claims.get(uid);
  }

  uids(): string[] {
    return [...this.claims.keys()];
  }

  set(uid: string, claim: PreparedClaim): void {
    this.claims.set(uid, claim);
    this.save();
  }

  delete(uid: string): void {
    if (this.claims.delete(uid)) this.save();
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const doc: CheckpointFile = { version: 1, claims: Object.fromEntries(this.claims) };
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(doc, null, 2), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
