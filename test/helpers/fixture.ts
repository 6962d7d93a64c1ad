import { mkdtempSync, renameSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeLibraryDir } from '../../src/paths.js';

/** A card as the fake libraries' fixture describes it (docs/simulation.md). */
export interface FixtureCard {
  name: string;
  uuid: string;
  pciBusId: string;
  pciDeviceId?: number;
  memoryTotal: number;
  memoryUsed?: number;
  utilization?: number | { min: number; max: number; periodS: number };
  memoryUtilization?: number;
  temperature?: number;
  power?: number;
  computeCapability?: [number, number];
  processes?: { pid: number; usedMemory: number }[];
  present?: boolean;
  health?: number;
  xid?: { id: number; xid: number }[];
}

export interface FixtureVendor {
  initError?: number;
  initDelayMs?: number;
  /** The init call dies of a segmentation fault (docs/simulation.md). */
  initCrash?: boolean;
  driverVersion?: string;
  nvmlVersion?: string;
  version?: string;
  cards: FixtureCard[];
}

export interface Fixture {
  nvidia?: FixtureVendor;
  amd?: FixtureVendor;
  ascend?: FixtureVendor;
}

const GiB = 1024 ** 3;

/** A host with two NVIDIA cards, one AMD and one Ascend, with fixed figures tests can assert on. */
export function mixedHost(): Fixture {
  return {
    nvidia: {
      driverVersion: '580.95.05',
      nvmlVersion: '13.580.95.05',
      cards: [
        {
          name: 'NVIDIA H100 80GB HBM3',
          uuid: 'GPU-11111111-2222-3333-4444-555555555555',
          pciBusId: '00000000:17:00.0',
          memoryTotal: 80 * GiB,
          memoryUsed: 2 * GiB,
          utilization: 42,
          memoryUtilization: 17,
          temperature: 51,
          power: 312.5,
          computeCapability: [9, 0],
          processes: [{ pid: 4242, usedMemory: GiB }],
        },
        {
          name: 'NVIDIA A100-SXM4-40GB',
          uuid: 'GPU-66666666-7777-8888-9999-aaaaaaaaaaaa',
          pciBusId: '00000000:65:00.0',
          memoryTotal: 40 * GiB,
          memoryUsed: 0,
          utilization: 0,
          memoryUtilization: 0,
          temperature: 33,
          power: 61,
          computeCapability: [8, 0],
        },
      ],
    },
    amd: {
      version: '7.8.0',
      cards: [
        {
          name: 'AMD Instinct MI210',
          uuid: '7f1c3a9b5e2d4c60',
          pciBusId: '0000:83:00.0',
          memoryTotal: 64 * GiB,
          memoryUsed: 4 * GiB,
          utilization: 73,
          memoryUtilization: 21,
          temperature: 58,
          power: 250.25,
        },
      ],
    },
    ascend: {
      version: '24.1.rc3',
      cards: [
        {
          name: '910B3',
          uuid: '0A1B2C3D-4E5F6071-8293A4B5-C6D7E8F9-13579BDF',
          pciBusId: '0000:c1:00.0',
          memoryTotal: 64 * GiB,
          memoryUsed: 3 * GiB,
          utilization: 55,
          memoryUtilization: 30,
          temperature: 47,
          power: 213.5,
          health: 0,
        },
      ],
    },
  };
}

/** A fixture file in its own temporary folder, rewritten atomically as the fakes expect. */
export class FixtureFile {
  readonly dir: string;
  readonly path: string;

  constructor(fixture: Fixture) {
    this.dir = mkdtempSync(join(tmpdir(), 'gpupool-fixture-'));
    this.path = join(this.dir, 'fixture.json');
    this.write(fixture);
  }

  /** Write then rename: the fakes never read a half-written file. */
  write(fixture: Fixture): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(fixture, null, 2));
    renameSync(tmp, this.path);
  }

  /** A folder holding only the named fake libraries: the other vendors' libraries are absent there. */
  libraryDir(...files: string[]): string {
    const dir = mkdtempSync(join(this.dir, 'lib-'));
    for (const f of files) symlinkSync(join(fakeLibraryDir, f), join(dir, f));
    return dir;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const FAKE_FILES = { nvidia: 'libnvidia-ml.so.1', amd: 'librocm_smi64.so', ascend: 'libdcmi.so' } as const;
