import { Command } from 'commander';
import { messageOf } from '../errors.js';
import { ExitCodes } from './exit-codes.js';

/** `gpupool slurm task-prolog`: gpupool as a Slurm GRES (docs/slurm.md). */
export function slurmCommand(out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void, done: (p: Promise<void>) => void): Command {
  const slurm = new Command('slurm').description('gpupool as a Slurm GRES (docs/slurm.md)');
  slurm
    .command('task-prolog')
    .description('for slurm.conf\'s TaskProlog: prints the exports that run a --gres=gpupool:N task through gpupool')
    .option('--daemon <url>', 'the node\'s daemon', 'http://127.0.0.1:7760')
    .option('--sessions <n>', 'the gpupool GRES count the node offers (gres.conf): each is 1/n of a card\'s time', '4')
    .option('--mem-per-session <size>', 'device memory per GRES (default: the daemon\'s default quota)')
    .option('--token-file <file>', 'the tenant token tasks get')
    .option('--scontrol <path>', 'scontrol, to read the job\'s GRES', 'scontrol')
    .action((opts) =>
      done(
        import('../cluster/slurm/run.js').then((m) => {
          try {
            m.runTaskProlog(opts, out);
          } catch (e) {
            // slurmd logs a TaskProlog that fails; the reason goes to its stderr.
            err.write(`gpupool slurm task-prolog: ${messageOf(e)}\n`);
            setExit(ExitCodes.FAILURE);
          }
        }),
      ),
    );
  return slurm;
}
