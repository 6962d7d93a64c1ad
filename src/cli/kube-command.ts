import { Command, Option } from 'commander';
import { LOG_LEVELS } from '../config/schema.js';

/**
 * `gpupool kube dra-plugin|dra-controller|device-plugin`: gpupool as a Kubernetes resource driver
 * (docs/kubernetes.md). Their modules (gRPC, the API client) load only when one runs.
 */
export function kubeCommand(done: (p: Promise<void>) => void): Command {
  const kube = new Command('kube').description('run gpupool\'s Kubernetes components (docs/kubernetes.md)');
  const logLevel = () => new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info');
  const api = (c: Command) =>
    c
      .option('--api-server <url>', 'the API server (default: the pod\'s service account and KUBERNETES_SERVICE_HOST)')
      .option('--api-token-file <file>', 'bearer token for --api-server')
      .option('--api-ca <file>', 'PEM CA of --api-server');
  api(
    kube
      .command('dra-plugin')
      .description('the DRA kubelet plugin (dra/v1): prepares gpupool.io claims as CDI devices')
      .option('--daemons <urls>', 'comma-separated daemons (http://HOST:PORT) whose pools claims may name, beside those of the published ResourceSlices')
      .option('--registry-dir <dir>', 'the kubelet\'s plugin registration folder', '/var/lib/kubelet/plugins_registry')
      .option('--plugin-dir <dir>', 'this plugin\'s socket and checkpoint folder', '/var/lib/kubelet/plugins/gpupool.io')
      .option('--cdi-dir <dir>', 'where CDI specs are written', '/var/run/cdi')
      .option('--token-file <file>', 'the tenant token every claim gets (a mounted Secret key)')
      .option('--token-dir <dir>', 'a token file per namespace, named by the namespace (overrides --token-file)')
      .option('--install-dir <dir>', 'copy the client library here (a node folder at the same path in the pod) for containers to mount')
      .addOption(logLevel()),
  ).action((opts) => done(import('../cluster/kubernetes/run.js').then((m) => m.runDraPlugin(opts))));
  api(
    kube
      .command('dra-controller')
      .description('publishes a ResourceSlice per daemon from its status')
      .requiredOption('--daemons <urls>', 'comma-separated daemons (http://HOST:PORT)')
      .option('--reach <how>', 'which nodes may use a daemon\'s cards: node (its own host), all (remote cards), label:KEY=VALUE', 'node')
      .option('--interval-ms <ms>', 'how often the slices are brought up to date', '10000')
      .addOption(logLevel()),
  ).action((opts) => done(import('../cluster/kubernetes/run.js').then((m) => m.runController(opts))));
  kube
    .command('device-plugin')
    .description('the device plugin (v1beta1): resource gpupool.io/gpu, each card split in --split')
    .option('--daemon <url>', 'the node\'s daemon', 'http://127.0.0.1:7760')
    .option('--device-dir <dir>', 'the kubelet\'s device-plugins folder', '/var/lib/kubelet/device-plugins')
    .option('--split <n>', 'devices per card: each gets 1/n of its memory and time', '4')
    .option('--poll-ms <ms>', 'how often the daemon\'s cards and health are read', '2000')
    .option('--token-file <file>', 'the tenant token containers get (a mounted Secret key)')
    .option('--install-dir <dir>', 'copy the client library here (a node folder at the same path in the pod) for containers to mount')
    .addOption(logLevel())
    .action((opts) => done(import('../cluster/kubernetes/run.js').then((m) => m.runDevicePlugin(opts))));
  return kube;
}
