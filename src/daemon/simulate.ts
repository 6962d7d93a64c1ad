import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DaemonConfig } from '../config/schema.js';
import { ErrorCodes, GpupoolError } from '../errors.js';
import { fakeLibraryDir } from '../paths.js';
import type { SearchPath } from '../vendors/library.js';

/** The environment variable the fake vendor libraries read their fixture from (docs/simulation.md). */
export const FIXTURE_ENV = 'GPUPOOL_SIM_FIXTURE';

/**
 * The library search path for this configuration. Simulation changes nothing but the path (and
 * tells the fakes their fixture): the daemon loads fakes exactly as it loads real libraries.
 * The fakes read the fixture's path from this process's own environment (getenv), so that is
 * where it is set, whatever environment the caller passed for its own settings.
 */
export function librarySearch(config: DaemonConfig): SearchPath {
  if (config.simulate === null) return { dirs: config.vendors.libraryPath, system: config.vendors.systemLibraries };
  const fixture = checkSimulation(config)!;
  process.env[FIXTURE_ENV] = fixture;
  return { dirs: [...config.vendors.libraryPath, fakeLibraryDir], system: false };
}

/**
 * The simulation's fixture, checked with the rest of the configuration before anything starts (a
 * missing one is the operator's mistake: exit 2); null without `simulate`.
 */
export function checkSimulation(config: DaemonConfig): string | null {
  if (config.simulate === null) return null;
  const fixture = resolve(config.simulate);
  if (!existsSync(fixture)) {
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `simulate: fixture ${fixture} does not exist`, { details: { key: 'simulate' } });
  }
  if (!existsSync(fakeLibraryDir)) {
    throw new GpupoolError(ErrorCodes.CONFIG_INVALID, `simulate: the fake libraries are not built (${fakeLibraryDir}); run npm run build`, {
      details: { key: 'simulate' },
    });
  }
  return fixture;
}
