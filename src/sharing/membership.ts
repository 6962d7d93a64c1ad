/**
 * Which daemons make up the pool. Today a static list from the configuration (`pool.peers`); a
 * cluster engine (Kubernetes endpoints, Consul, ...) can stand behind the same interface later.
 */

/** Another daemon of the pool. */
export interface Peer {
  /** Its HTTP base address, `http://HOST:PORT`. */
  url: string;
}

export interface PoolMembership {
  peers(): Promise<Peer[]>;
}

/** The peers named in the configuration, as written (without a trailing slash). */
export class StaticMembership implements PoolMembership {
  private readonly list: Peer[];

  constructor(urls: readonly string[]) {
    this.list = urls.map((url) => ({ url: url.replace(/\/+$/, '') }));
  }

  async peers(): Promise<Peer[]> {
    return this.list.map((p) => ({ ...p }));
  }
}
