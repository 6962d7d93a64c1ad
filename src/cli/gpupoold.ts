#!/usr/bin/env node
// `gpupoold` is `gpupool daemon`, under the name systemd units and operators expect of a daemon.
import { main } from './main.js';

const [node = 'node', script = 'gpupoold', ...rest] = process.argv;
process.exitCode = await main([node, script, 'daemon', ...rest]);
