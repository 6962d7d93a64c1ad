import { ConnectionClosed, ProtocolClient, helloMessage, type Closed, type OpTable } from '../client.js';
import { ALLOWED_CLOSE_CODES, Rng, floodCase, nextCase, oversizedCase, type FuzzCase, type Target } from './cases.js';

/**
 * Runs seeded fuzz cases (cases.ts) against a daemon's `/v1/compute` over real WebSockets, several
 * connections at once, while one well-behaved client checks that its own calls still give the right
 * bytes. Each case's outcome is checked: a protocol error closes the connection with an allowed code
 * (4001, 4002, 1007, 1009), a well-formed frame is answered, and nothing hangs. Connections are
 * reused while the daemon keeps them: a valid HELLO, then case after case.
 */

export interface FuzzRunOptions {
  /** ws://HOST:PORT/v1/compute */
  url: string;
  ops: OpTable;
  seed: number;
  /** Cases of the weighted kinds (everything but floods and oversized messages). */
  cases: number;
  floods: number;
  /** About how many bytes a many-messages flood sends. */
  floodBytes: number;
  /** Messages one byte over the daemon's limit. */
  oversized: number;
  maxMessageBytes: number;
  concurrency: number;
  /** A case neither answered nor closed by then is a hang. */
  timeoutMs: number;
  /** Called after every case (for sampling the daemon's memory, or progress). */
  onCase?: (done: number) => void;
}

export interface FuzzFailure {
  index: number;
  kind: string;
  detail: string;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  /** Call frames (or attempts at one) sent, each drawn on its own: floods hold thousands each. */
  frames: number;
  /** Copies of a frame already counted, sent by floods that repeat one. */
  repeatedFrames: number;
  messages: number;
  bytes: number;
  /** Connections opened by the fuzzing workers (each protocol error ends one). */
  connections: number;
  /** How the cases ended: `closed 4002`, `answered`, ... */
  outcomes: Record<string, number>;
  kinds: Record<string, number>;
  failures: FuzzFailure[];
  /** The well-behaved client: its rounds (write, read back, compare) and anything that went wrong. */
  wellBehaved: { rounds: number; errors: string[] };
  seconds: number;
}

const BUFFER_BYTES = 64 * 1024;

/** A session opened for fuzzing: handshake done, a context retained, a buffer allocated. */
interface Worker {
  client: ProtocolClient;
  target: Target;
}

async function openWorker(url: string, ops: OpTable, program: string): Promise<Worker> {
  // A small quota: many fuzzing sessions at once must all fit on the card.
  const { client } = await ProtocolClient.connect(url, helloMessage({ digest: ops.digest, program, request: { mem: 256 * 1024 * 1024, gpus: 'all' } }));
  const retained = await client.call(ops.code('cuDevicePrimaryCtxRetain_v7000'), 0, true, 0);
  if (retained.rc !== 0) throw new Error(`cuDevicePrimaryCtxRetain failed: ${retained.rc}`);
  const ctx = retained.outs[0] as number;
  const alloc = await client.call(ops.code('cuMemAlloc_v3020'), ctx, true, BUFFER_BYTES);
  if (alloc.rc !== 0) throw new Error(`cuMemAlloc failed: ${alloc.rc}`);
  return { client, target: { ctx, buffer: alloc.outs[0] as number, bufferBytes: BUFFER_BYTES } };
}

/** Resolves with `p`, or with 'timeout' after `ms`. */
async function orTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the schedule holds at each index: which generator makes the case. */
type Slot = 'case' | 'flood' | 'oversized';

function schedule(o: FuzzRunOptions): Slot[] {
  const slots: Slot[] = [...Array<Slot>(o.cases).fill('case'), ...Array<Slot>(o.floods).fill('flood'), ...Array<Slot>(o.oversized).fill('oversized')];
  const rng = new Rng(o.seed ^ 0x51a7);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  return slots;
}

/** Each case draws from its own generator, so that case N is the same whatever ran before it. */
function caseRng(seed: number, index: number): Rng {
  return new Rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

export async function runFuzz(o: FuzzRunOptions): Promise<FuzzReport> {
  const started = Date.now();
  const slots = schedule(o);
  const report: FuzzReport = { seed: o.seed, cases: 0, frames: 0, repeatedFrames: 0, messages: 0, bytes: 0, connections: 0, outcomes: {}, kinds: {}, failures: [], wellBehaved: { rounds: 0, errors: [] }, seconds: 0 };
  const count = (map: Record<string, number>, key: string) => (map[key] = (map[key] ?? 0) + 1);
  let next = 0;
  let done = false;

  const sync = o.ops.code('cuCtxSynchronize_v2000');

  async function runCase(index: number, worker: Worker | null): Promise<Worker | null> {
    const rng = caseRng(o.seed, index);
    const slot = slots[index]!;
    // A case before HELLO needs a connection of its own; one after it uses (or opens) the worker's.
    if (worker === null) {
      worker = await openWorker(o.url, o.ops, 'fuzz');
      report.connections++;
    }
    const c: FuzzCase = slot === 'flood' ? floodCase(rng, o.ops, worker.target, o.floodBytes) : slot === 'oversized' ? oversizedCase(o.maxMessageBytes) : nextCase(rng, o.ops, worker.target);
    count(report.kinds, c.kind);
    report.frames += c.frames ?? 1;
    report.repeatedFrames += c.repeats ?? 0;
    const fail = (detail: string) => report.failures.push({ index, kind: c.kind, detail });
    const client = c.phase === 'before' ? new ProtocolClient(o.url) : worker.client;
    if (c.phase === 'before') report.connections++;
    for (const m of c.messages) {
      report.messages++;
      report.bytes += m.length;
      await client.send(m);
    }
    let outcome: Closed | 'answered' | 'timeout';
    if (c.expect === 'close') {
      outcome = await orTimeout(client.closed, o.timeoutMs);
    } else {
      const probe = client.call(sync, worker.target.ctx).then(
        () => 'answered' as const,
        (err: unknown) => {
          if (err instanceof ConnectionClosed) return err.closed;
          throw err;
        },
      );
      outcome = await orTimeout(probe, o.timeoutMs);
    }
    if (outcome === 'timeout') {
      count(report.outcomes, 'no answer (hang)');
      fail(`neither answered nor closed within ${o.timeoutMs} ms`);
      client.terminate();
      return c.phase === 'before' ? worker : null;
    }
    if (outcome === 'answered') {
      count(report.outcomes, 'answered');
      if (c.expect === 'close') fail('answered a frame that breaks the protocol');
      return worker;
    }
    count(report.outcomes, `closed ${outcome.code}`);
    if (c.expect === 'answer') fail(`closed (${outcome.code} ${outcome.reason}) on a well-formed frame`);
    else if (!ALLOWED_CLOSE_CODES.includes(outcome.code)) fail(`closed with ${outcome.code} ${outcome.reason}`);
    if (c.phase === 'before' && client.other.length > 0) fail('the daemon answered a bad HELLO');
    return c.phase === 'before' ? worker : null;
  }

  async function work(): Promise<void> {
    let worker: Worker | null = null;
    try {
      for (let index = next++; index < slots.length; index = next++) {
        try {
          worker = await runCase(index, worker);
        } catch (err) {
          report.failures.push({ index, kind: 'worker', detail: (err as Error).message });
          worker?.client.terminate();
          worker = null;
        }
        report.cases++;
        o.onCase?.(report.cases);
      }
    } finally {
      worker?.client.terminate();
    }
  }

  /** A client that only makes correct calls, all the while: its bytes must always come back right. */
  async function wellBehaved(): Promise<void> {
    const rng = new Rng(o.seed ^ 0xbeef);
    let w: Worker;
    try {
      w = await openWorker(o.url, o.ops, 'well-behaved');
    } catch (err) {
      report.wellBehaved.errors.push(`connect: ${(err as Error).message}`);
      return;
    }
    const { client, target } = w;
    try {
      while (!done) {
        const n = 1 + rng.int(target.bufferBytes);
        const data = rng.bytes(n);
        const put = await client.call(o.ops.code('cuMemcpyHtoD_v3020'), target.ctx, target.buffer, data, n);
        const back = await client.call(o.ops.code('cuMemcpyDtoH_v3020'), target.ctx, true, target.buffer, n);
        if (put.rc !== 0 || back.rc !== 0) report.wellBehaved.errors.push(`round ${report.wellBehaved.rounds}: rc ${put.rc}/${back.rc}`);
        else if (Buffer.compare(back.outs[0] as Buffer, data) !== 0) report.wellBehaved.errors.push(`round ${report.wellBehaved.rounds}: the bytes differ`);
        report.wellBehaved.rounds++;
        if (report.wellBehaved.errors.length > 0) break;
      }
    } catch (err) {
      report.wellBehaved.errors.push(`round ${report.wellBehaved.rounds}: ${(err as Error).message}`);
    } finally {
      client.terminate();
    }
  }

  const good = wellBehaved();
  await Promise.all(Array.from({ length: o.concurrency }, () => work()));
  done = true;
  await good;
  report.seconds = (Date.now() - started) / 1000;
  return report;
}
