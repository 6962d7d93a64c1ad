import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: dist/paths.js and src/paths.ts both sit one level below it. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where `make -C native` puts the fake vendor libraries (the `--simulate` backend). */
export const fakeLibraryDir = join(packageRoot, 'build', 'native', 'fakes');

/** The fixture `--simulate` uses when none is named. */
export const defaultFixture = join(packageRoot, 'native', 'fakes', 'fixtures', 'default.json');
