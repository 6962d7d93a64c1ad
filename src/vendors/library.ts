import { existsSync } from 'node:fs';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';
import type { Vendor } from './device.js';

export type Library = LibraryHandle;

/** Where each vendor's management library lives on a real host, and the names it goes by. */
export interface LibrarySpec {
  vendor: Vendor;
  /** File names, preferred first (the soname, then the development link, then older majors). */
  names: string[];
  /** The vendor's usual install folders, searched after the configured ones. */
  systemDirs: string[];
}

export interface SearchPath {
  /** Folders searched first (`vendors.libraryPath`; `--simulate` puts the fakes here). */
  dirs: string[];
  /** Then the vendor's usual folders and the dynamic loader's own search. */
  system: boolean;
}

/**
 * The one place a vendor library is loaded, for real and fake libraries alike: only the search path
 * differs. Every failed attempt is kept so the operator sees why each candidate was rejected.
 */
export function loadVendorLibrary(spec: LibrarySpec, search: SearchPath, load: (path: string) => Library = koffi.load): {
  library: Library;
  path: string;
} {
  const attempts: string[] = [];
  const dirs = search.system ? [...search.dirs, ...spec.systemDirs] : search.dirs;
  for (const dir of dirs) {
    for (const name of spec.names) {
      const path = join(dir, name);
      if (!existsSync(path)) continue;
      try {
        return { library: load(path), path };
      } catch (err) {
        attempts.push(`${path}: ${messageOf(err)}`);
      }
    }
  }
  if (search.system) {
    // A bare name lets the dynamic loader use LD_LIBRARY_PATH and ld.so.cache, as the vendors' own tools do.
    for (const name of spec.names) {
      try {
        return { library: load(name), path: name };
      } catch (err) {
        attempts.push(`${name}: ${messageOf(err)}`);
      }
    }
  }
  const where = dirs.length > 0 ? dirs.join(', ') : '(no folders)';
  const detail = attempts.length > 0 ? attempts.join('; ') : `none of ${spec.names.join(', ')} found in ${where}`;
  throw new GpupoolError(ErrorCodes.VENDOR_UNAVAILABLE, `${spec.vendor}: library not loaded: ${detail}`, {
    details: { vendor: spec.vendor, searched: dirs, system: search.system },
  });
}
