import { Command } from 'commander';
import { parseTokenFile, newToken, tokenLine, TENANT_PATTERN } from '../auth/tokens.js';
import { messageOf } from '../errors.js';
import { ExitCodes } from './exit-codes.js';

interface NewOptions {
  cards?: string;
  quota?: string;
  priority?: string;
  sessions?: string;
  memory?: string;
  json?: boolean;
}

/**
 * `gpupool token new TENANT`: a fresh token and the token file line that admits it. The token goes to
 * the tenant (GPUPOOL_TOKEN) and is never stored by gpupool; the line, which holds only its SHA-256,
 * goes into the daemon's token file. Line 1 of the output is the token, line 2 the file line, so that
 * scripts can take each apart (`| sed -n 1p`); `--json` prints both as one object.
 */
export function tokenCommand(out: NodeJS.WritableStream, err: NodeJS.WritableStream, setExit: (code: number) => void): Command {
  const token = new Command('token').description('make tokens for compute clients (docs/security.md)');
  token
    .command('new')
    .description('print a fresh token for TENANT and the line that admits it in the daemon\'s token file')
    .argument('<tenant>', 'tenant name: letters, digits, ".", "_", "-"')
    .option('--cards <list>', 'limit: comma-separated card indexes or UUIDs the tenant may use')
    .option('--quota <size>', 'limit: device memory the tenant may hold (8GiB, 512MiB, bytes)')
    .option('--priority <class>', 'limit: the highest priority its jobs get: high, normal or low, optionally with a level (high:3)')
    .option('--sessions <n>', 'limit: sessions the tenant may hold at once (default: the daemon\'s sharing.tenantMaxSessions)')
    .option('--memory <size>', 'limit: memory quota all its sessions may hold together, bytes or a share of the host\'s cards (64GiB, 50%)')
    .option('--json', 'print {"tenant", "token", "line"} as JSON')
    .action((tenant: string, opts: NewOptions) => {
      if (!TENANT_PATTERN.test(tenant)) {
        err.write(`gpupool token new: tenant "${tenant}" must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit\n`);
        setExit(ExitCodes.CONFIG);
        return;
      }
      const secret = newToken();
      const line = tokenLine(tenant, secret, { cards: opts.cards, quota: opts.quota, priority: opts.priority, sessions: opts.sessions, memory: opts.memory });
      try {
        // The daemon's own parser: a line printed here is a line the daemon accepts.
        parseTokenFile(line, 'generated line');
      } catch (e) {
        err.write(`gpupool token new: ${messageOf(e).replace(/^generated line:1: /, '')}\n`);
        setExit(ExitCodes.CONFIG);
        return;
      }
      if (opts.json) {
        out.write(`${JSON.stringify({ tenant, token: secret, line })}\n`);
        return;
      }
      out.write(`${secret}\n${line}\n`);
      err.write(
        'line 1: the token; give it to the tenant as GPUPOOL_TOKEN (or gpupool run --token). It is shown only now.\n' +
          'line 2: append it to the daemon\'s token file (--tokens FILE), then reload the daemon (SIGHUP).\n',
      );
    });
  return token;
}
