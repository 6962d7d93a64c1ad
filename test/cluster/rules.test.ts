// The cluster components' pure rules: quantities, the GRES line, the TaskProlog's exports, a claim's job.
import t from 'tap';
import { claimJob, type ResourceClaim } from '../../src/cluster/kubernetes/claim-request.js';
import { bytesQuantity, parseQuantity, shareQuantity } from '../../src/cluster/kubernetes/quantity.js';
import { gpupoolGres } from '../../src/cluster/slurm/gres.js';
import { taskPrologLines } from '../../src/cluster/slurm/task-prolog.js';

t.test('quantities', async (t) => {
  t.equal(parseQuantity('8Gi'), 8 * 2 ** 30);
  t.equal(parseQuantity('250m'), 0.25);
  t.equal(parseQuantity('1.5G'), 1.5e9);
  t.equal(parseQuantity('2e3'), 2000);
  t.equal(parseQuantity('12'), 12);
  t.equal(parseQuantity('8 Gi'), null);
  t.equal(parseQuantity('Gi'), null);
  t.equal(bytesQuantity(40 * 2 ** 30), '40Gi');
  t.equal(bytesQuantity(2 ** 20 + 1), String(2 ** 20 + 1));
  t.equal(shareQuantity(0.25), '250m');
  t.equal(shareQuantity(1), '1');
});

t.test('the gpupool GRES of a job, as scontrol writes it', async (t) => {
  t.equal(gpupoolGres('JobId=3 ... TresPerNode=gres:gpupool:2 ...'), 2);
  t.equal(gpupoolGres('TresPerNode=gres/gpupool:3'), 3, 'the gres/ form of newer Slurm');
  t.equal(gpupoolGres('TresPerNode=gres:gpupool:fast:4'), 4, 'a typed GRES');
  t.equal(gpupoolGres('TresPerNode=gres:gpu:2'), null, 'another GRES');
  t.equal(gpupoolGres('TresPerNode=gres:gpupoolx:2'), null);
  t.equal(gpupoolGres('JobId=3 TRES=cpu=1'), null, 'none');
});

t.test('the TaskProlog\'s exports', async (t) => {
  const base = { daemon: 'http://10.0.0.5:7760', sessions: 4, clientLibraryDir: '/opt/gpupool/lib', env: { SLURM_JOB_ID: '42', SLURM_JOB_USER: 'alice', LD_LIBRARY_PATH: '/usr/lib/x' } };
  t.same(taskPrologLines({ ...base, count: null }), [], 'no GRES: nothing');
  t.same(taskPrologLines({ ...base, count: 1, memPerSession: '2GiB', token: 'tok' }), [
    'export GPUPOOL_SERVERS=ws://10.0.0.5:7760',
    'export LD_LIBRARY_PATH=/opt/gpupool/lib:/usr/lib/x',
    `export GPUPOOL_REQUEST=share=0.25,mem=${2 * 2 ** 30},job=42,user=alice`,
    'export GPUPOOL_TOKEN=tok',
  ]);
  const own = taskPrologLines({ ...base, count: 2, memPerSession: '2GiB', env: { ...base.env, GPUPOOL_REQUEST: 'share=0.1,priority=high' } });
  t.equal(own[2], `export GPUPOOL_REQUEST=mem=${4 * 2 ** 30},job=42,user=alice,share=0.1,priority=high`, 'the job\'s own share and keys are kept');
  t.same(taskPrologLines({ ...base, count: 8 })[2], 'export GPUPOOL_REQUEST=share=1,job=42,user=alice', 'never more than a whole card');
  t.throws(() => taskPrologLines({ ...base, count: 1, env: { GPUPOOL_REQUEST: 'share=7' } }), { code: 'GPUPOOL_USAGE' }, 'a bad request of the job fails the prolog');
  t.throws(() => taskPrologLines({ ...base, count: 1, memPerSession: 'lots' }), { code: 'GPUPOOL_USAGE' });
  t.equal(taskPrologLines({ ...base, count: 1, token: "it's" })[3], `export GPUPOOL_TOKEN='it'\\''s'`, 'quoted for the shell');
});

t.test('a claim\'s job', async (t) => {
  const claim = (results: unknown[], config: unknown[] = []): ResourceClaim =>
    ({ metadata: { namespace: 'ns', name: 'c', uid: 'u' }, status: { allocation: { devices: { results, config } } } }) as ResourceClaim;
  const servers = (pool: string) => (pool === 'gpu1' ? 'ws://gpu1:7760' : pool === 'gpu2' ? 'ws://gpu2:7760' : null);
  const two = claimJob(
    claim([
      { request: 'a', driver: 'gpupool.io', pool: 'gpu1', device: 'gpu-3', consumedCapacity: { memory: '2Gi', share: '500m' } },
      { request: 'a', driver: 'gpupool.io', pool: 'gpu1', device: 'gpu-1', consumedCapacity: { memory: '1Gi', share: '250m' } },
      { request: 'b', driver: 'gpupool.io', pool: 'gpu2', device: 'gpu-0' },
      { request: 'c', driver: 'other.example.com', pool: 'x', device: 'y' },
    ]),
    servers,
  );
  t.same(two.servers, [`ws://gpu1:7760?gpus=2&cards=1+3&mem=${2 * 2 ** 30}&share=0.5`, 'ws://gpu2:7760?gpus=1&cards=0'], 'per daemon: its cards, the most memory and share any took; a whole card asks nothing');
  t.equal(two.request, 'namespace=ns');
  t.equal(two.results.length, 3, 'other drivers\' results are not gpupool\'s');
  t.throws(() => claimJob(claim([{ request: 'a', driver: 'gpupool.io', pool: 'gpu9', device: 'gpu-0' }]), servers), { code: 'GPUPOOL_CLAIM_UNUSABLE', message: /no gpupool daemon is known for pool gpu9/ });
  t.throws(() => claimJob(claim([{ request: 'a', driver: 'gpupool.io', pool: 'gpu1', device: 'mig-0' }]), servers), { message: /not a gpupool card name/ });
  t.throws(() => claimJob(claim([]), servers), { message: /no device of driver gpupool.io/ });
  const params = (p: Record<string, unknown>, source = 'FromClaim') => [{ source, requests: [], opaque: { driver: 'gpupool.io', parameters: p } }];
  t.throws(() => claimJob(claim([{ request: 'a', driver: 'gpupool.io', pool: 'gpu1', device: 'gpu-0' }], params({ mem: '1Gi' })), servers), { message: /opaque parameter mem=1Gi/ });
  const ordered = claimJob(claim([{ request: 'a', driver: 'gpupool.io', pool: 'gpu1', device: 'gpu-0' }], [...params({ priority: 'high', limit: true }), ...params({ priority: 'low', wait: 30 }, 'FromClass')]), servers);
  t.equal(ordered.request, 'priority=high,wait=30,limit=yes,namespace=ns', 'the claim\'s parameters win over the class\'s');
});
