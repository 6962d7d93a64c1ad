// Workload identity keys of the request: the text's rules, HELLO's, and the client library's.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { encodeHello, parseHello, type Hello } from '../../src/compute/handshake.js';
import { clientLibraryDir } from '../../src/paths.js';
import { parseRequestText, withKeys } from '../../src/sharing/request-text.js';
import { buildProgram } from '../helpers/programs.js';

const hello = (request: unknown) => encodeHello({ protocol: 1, digest: 'abcdef0123456789', cuda: 13000, token: null, pid: 1, host: 'h', program: 'p', request } as Hello);

t.test('GPUPOOL_REQUEST: namespace, pod, container, job and user', async (t) => {
  t.same(parseRequestText('mem=1GiB,namespace=team-a,pod=trainer-0,container=main').workload, { namespace: 'team-a', pod: 'trainer-0', container: 'main' });
  t.same(parseRequestText('job=4711,user=alice@corp').workload, { job: '4711', user: 'alice@corp' });
  t.equal(parseRequestText('mem=1GiB').workload, undefined, 'none given: no workload');
  t.throws(() => parseRequestText('pod=a/b'), { code: 'GPUPOOL_USAGE', message: /pod=a\/b is not 1 to 128 letters/ });
  t.throws(() => parseRequestText(`user=${'x'.repeat(129)}`), { code: 'GPUPOOL_USAGE' }, 'longer than 128');
  t.equal(withKeys('mem=1GiB', { job: '7' }), 'job=7,mem=1GiB');
});

t.test('cards: the ordinals a session may be given', async (t) => {
  t.same(parseRequestText('gpus=2,cards=0+2').cards, [0, 2]);
  t.throws(() => parseRequestText('cards=0,2'), { code: 'GPUPOOL_USAGE' }, 'a comma ends the key: "2" is not key=value');
  t.throws(() => parseRequestText('cards=x'), { message: /cards=x is not card ordinals 0-255 joined by \+/ });
  t.same(parseHello(hello({ cards: [1, 3] }), 'abcdef0123456789').request?.cards, [1, 3]);
  t.throws(() => parseHello(hello({ cards: [] }), 'abcdef0123456789'), { closeCode: 4002, message: /cards must be/ });
});

t.test('HELLO: the workload keys, checked as strictly', async (t) => {
  t.same(parseHello(hello({ namespace: 'ns', pod: 'p-1', job: null }), 'abcdef0123456789').request?.workload, { namespace: 'ns', pod: 'p-1' });
  t.throws(() => parseHello(hello({ user: 'a b' }), 'abcdef0123456789'), { closeCode: 4002, message: /user must be 1 to 128/ });
  t.throws(() => parseHello(hello({ pod: 7 }), 'abcdef0123456789'), { closeCode: 4002, message: /pod must be/ });
});

t.test('the client library refuses a bad workload name before it connects', async (t) => {
  const quota = buildProgram('quota.c');
  const run = spawnSync(quota, [], { env: { ...process.env, LD_LIBRARY_PATH: clientLibraryDir, GPUPOOL_SERVERS: 'ws://127.0.0.1:9', GPUPOOL_REQUEST: 'namespace=team-a,pod=bad/name' }, encoding: 'utf8' });
  t.equal(run.status, 3);
  t.match(run.stdout, /^cuInit CUDA_ERROR_INVALID_VALUE$/m);
  t.match(run.stderr, /pod=bad\/name is not 1 to 128 letters, digits/);
});
