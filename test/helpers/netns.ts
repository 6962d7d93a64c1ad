import { execFileSync } from 'node:child_process';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

export interface TestHosts {
  /** The client namespace and each GPU host's namespace and address, as seen from the client. */
  client: string;
  hosts: { ns: string; address: string }[];
  /** Cuts (or restores) the link between the client and GPU host i. */
  link(i: number, up: boolean): void;
  destroy(): void;
}

/**
 * A GPU-less client host and `count` GPU hosts as network namespaces, each GPU host joined to the
 * client by its own veth pair on its own /30. Addresses are in 10.231.0.0/16: this machine's own test
 * hosts, made and removed here.
 */
export function createTestHosts(count: number, tag = String(process.pid % 100_000)): TestHosts {
  const client = `gpc${tag}`;
  const hosts: { ns: string; address: string; veth: string }[] = [];
  const made: string[] = [];
  const destroy = () => {
    for (const ns of made.reverse()) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('netns', 'add', client);
    made.push(client);
    ip('-n', client, 'link', 'set', 'lo', 'up');
    for (let i = 0; i < count; i++) {
      const ns = `gph${tag}x${i}`;
      const subnet = (Number(tag) % 60) * 4 + i;
      const inside = `10.231.${subnet}.2`;
      const outside = `10.231.${subnet}.1`;
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      const a = `ve${tag}h${i}`;
      const b = `ve${tag}c${i}`;
      ip('link', 'add', a, 'netns', ns, 'type', 'veth', 'peer', 'name', b, 'netns', client);
      ip('-n', ns, 'addr', 'add', `${inside}/30`, 'dev', a);
      ip('-n', client, 'addr', 'add', `${outside}/30`, 'dev', b);
      ip('-n', ns, 'link', 'set', a, 'up');
      ip('-n', client, 'link', 'set', b, 'up');
      hosts.push({ ns, address: inside, veth: b });
    }
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    client,
    hosts: hosts.map(({ ns, address }) => ({ ns, address })),
    link: (i, up) => ip('-n', client, 'link', 'set', hosts[i]!.veth, up ? 'up' : 'down'),
    destroy,
  };
}

/** Whether this machine lets us make namespaces (root, and a kernel that allows it). */
export function namespacesAvailable(): string | null {
  const probe = `gpprobe${process.pid % 100_000}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'delete', probe);
    return null;
  } catch (err) {
    return `network namespaces are refused here (${(err as Error).message.split('\n')[0]})`;
  }
}
