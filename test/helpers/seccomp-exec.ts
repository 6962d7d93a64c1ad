/**
 * `node seccomp-exec.ts ALLOWED.json PROGRAM ARGS...`: runs PROGRAM under a seccomp allow-list of the
 * system calls named in ALLOWED.json, every other call failing with EPERM, as systemd applies a unit's
 * `SystemCallFilter=` with `SystemCallErrorNumber=EPERM` (test/systemd/filter.test.ts). The filter is
 * loaded on this thread and kept across execve(), which leaves that thread alone in the new program.
 * Plain TypeScript that Node runs itself (type stripping), through libseccomp, which systemd needs too.
 */
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

const [allowedFile, program, ...args] = process.argv.slice(2);
if (!allowedFile || !program) throw new Error('usage: seccomp-exec.ts ALLOWED.json PROGRAM ARGS...');
const allowed = JSON.parse(readFileSync(allowedFile, 'utf8')) as string[];

const seccomp = koffi.load('libseccomp.so.2');
const init = seccomp.func('void *seccomp_init(uint32_t defAction)');
const resolve = seccomp.func('int seccomp_syscall_resolve_name(const char *name)');
const addRule = seccomp.func('int seccomp_rule_add(void *ctx, uint32_t action, int syscall, unsigned int argCount, ...)');
const load = seccomp.func('int seccomp_load(void *ctx)');

const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_ERRNO_EPERM = 0x00050000 | 1;

const ctx = init(SCMP_ACT_ERRNO_EPERM);
if (!ctx) throw new Error('seccomp_init failed');
for (const name of allowed) {
  const nr = resolve(name) as number;
  // A name this architecture lacks (a 32-bit variant) has no number: nothing to allow.
  if (nr < 0) continue;
  const rc = addRule(ctx, SCMP_ACT_ALLOW, nr, 0) as number;
  if (rc !== 0) throw new Error(`seccomp_rule_add ${name}: ${rc}`);
}
const rc = load(ctx) as number;
if (rc !== 0) throw new Error(`seccomp_load: ${rc}`);
// Node 23.11 and later; the unit runs on 24.
if (!process.execve) throw new Error(`process.execve is missing from Node ${process.version}`);
process.execve(program, [program, ...args], process.env);
