import t from 'tap';
import { parseRequestText, withKeys } from '../../src/sharing/request-text.js';

const GiB = 1024 ** 3;

t.test('GPUPOOL_REQUEST text: every key, the last of a key wins', async (t) => {
  t.same(parseRequestText(undefined), { mem: null, share: null, priority: null, limit: false, gpus: null, policy: null, wait: null });
  t.same(parseRequestText(' mem=8GiB, share=0.25 ,priority=high:2,limit=yes,gpus=2,policy=binpack,wait=60'), { mem: 8 * GiB, share: 0.25, priority: 'high:2', limit: true, gpus: 2, policy: 'binpack', wait: 60 });
  t.match(parseRequestText('gpus=all,gpus=3,wait=0'), { gpus: 3, wait: 0 });
  const cases: [string, RegExp][] = [
    ['mem=lots', /mem=lots is not a size in bytes/],
    ['share=0', /share=0 is not a number from 0\.01 to 1/],
    ['share=1e-300', /share=1e-300 is not a number from 0\.01 to 1/],
    ['share=', /share= is not a number/],
    ['priority=urgent', /priority=urgent is not high, normal or low/],
    ['gpus=0', /gpus=0 is not a number of cards from 1 to 256, or all/],
    ['policy=tight', /policy=tight is not binpack or spread/],
    ['wait=1.5', /wait=1\.5 is not a whole number of seconds/],
    ['colour=red', /unknown key "colour" \(keys: mem, share, limit, priority, gpus, policy, wait, cards, namespace, pod, container, job, user\)/],
    ['8GiB', /"8GiB" is not key=value/],
  ];
  for (const [text, message] of cases) t.throws(() => parseRequestText(text), { code: 'GPUPOOL_USAGE', message }, text);
});

t.test('withKeys sets keys first, keeps the others, removes null ones', async (t) => {
  t.equal(withKeys(undefined, { mem: '8GiB' }), 'mem=8GiB');
  t.equal(withKeys('mem=1GiB,priority=low', { mem: '128MiB', gpus: '2', policy: undefined }), 'mem=128MiB,gpus=2,priority=low');
  t.equal(withKeys('gpus=2,share=0.5', { gpus: null }), 'share=0.5');
  t.equal(withKeys('gpus=2', { gpus: null }), '');
});
