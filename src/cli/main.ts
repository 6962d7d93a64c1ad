import { Command, CommanderError } from 'commander';
import { version } from '../version.js';
import { daemonCommand } from './daemon-command.js';
import { ExitCodes } from './exit-codes.js';
import { kubeCommand } from './kube-command.js';
import { slurmCommand } from './slurm-command.js';
import { runCommand } from './run-command.js';
import { statusCommand } from './status-command.js';
import { tokenCommand } from './token-command.js';

/**
 * The `gpupool` command. Returns the exit status instead of exiting so that tests and the
 * `gpupoold` alias can call it, and so that pino's last lines are flushed before the process ends.
 */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let exitCode: number = ExitCodes.OK;
  let pending: Promise<void> = Promise.resolve();
  const setExit = (code: number) => {
    exitCode = code;
  };
  const done = (p: Promise<void>) => {
    pending = p;
  };
  const program = new Command('gpupool')
    .description('gpupool: pool the GPUs of many hosts and vendors')
    .version(version)
    // `gpupool run -- CMD --flags`: everything after the command belongs to the job.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(daemonCommand(setExit, done))
    .addCommand(statusCommand(out, err, setExit, done))
    .addCommand(runCommand(err, setExit, done))
    .addCommand(tokenCommand(out, err, setExit))
    .addCommand(kubeCommand(done))
    .addCommand(slurmCommand(out, err, setExit, done));
  // Nested ones too (`token new`): each must return its usage errors here, not exit the process.
  const subs = [...program.commands];
  for (let sub = subs.shift(); sub; sub = subs.shift()) {
    sub.exitOverride().configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s) }).showHelpAfterError('(run with --help for usage)');
    subs.push(...sub.commands);
  }
  try {
    await program.parseAsync(argv);
    await pending;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end commander with exit code 0; everything else is a usage error.
      return e.exitCode === 0 ? ExitCodes.OK : ExitCodes.CONFIG;
    }
    err.write(`gpupool: ${e instanceof Error ? e.message : String(e)}\n`);
    return ExitCodes.FAILURE;
  }
  return exitCode;
}
