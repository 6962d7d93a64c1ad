/**
 * Why a sample has no executable, from the logs the build left in the cache (configure.log, and the
 * build-*.log files of the make runs): the dependency CMake did not find (a package the sample says
 * it will not build without, or a library target such as CUDA::nvrtc or CUDA::curand), and the first
 * error its compilation or link stopped at. A sample no log names was never reached: the build was
 * cut short. Logs are read once per run.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function notBuiltReasons(cache) {
  const read = (f) => (existsSync(join(cache, f)) ? readFileSync(join(cache, f), 'utf8') : '');
  const configure = read('configure.log');
  const builds = existsSync(cache) ? readdirSync(cache).filter((f) => /^build.*\.log$/.test(f)).map(read) : [];
  return (cat, name) => {
    const missing = new Set();
    for (const m of configure.matchAll(new RegExp(`^-- (.+?) not found - will not build sample '${escape(name)}'`, 'gm'))) missing.add(m[1]);
    for (const m of configure.matchAll(new RegExp(`Target "${escape(name)}" links to:\\s+(\\S+)\\s+but the target was not found`, 'g'))) missing.add(m[1]);
    let stopped = null;
    let named = false;
    const dir = `/Samples/${cat}/${name}/`;
    for (const log of builds) {
      let linking = null;
      for (const line of log.split('\n')) {
        const link = /Linking \S+ executable (\S+)$/.exec(line);
        if (link) linking = link[1];
        if (line.includes(dir) || linking === name) named = true;
        if (stopped) continue;
        const fatal = /fatal error: (.+)$/.exec(line);
        if (fatal && line.includes(dir)) stopped = fatal[1];
        const ld = /cannot find (-l\S+?):? /.exec(line);
        if (ld && linking === name) stopped = `the link: cannot find ${ld[1]}`;
      }
    }
    const parts = [];
    if (missing.size) parts.push(`needs ${[...missing].join(', ')}, which CMake did not find on the build machine (configure.log)`);
    if (stopped) parts.push(`its build stopped at ${stopped}`);
    if (!parts.length) parts.push(named ? 'its build failed (see the build logs)' : 'no build log names it: the build was cut short before it');
    return parts.join('; ');
  };
}
