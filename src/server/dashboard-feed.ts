import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCodes, messageOf } from '../errors.js';
import { Poller } from '../daemon/poller.js';
import { HistoryRing, sampleOf, type HistoryDocument, type HistorySample } from './history.js';
import type { PoolDocument } from './pool.js';
import type { StatusDocument } from './status.js';

/** Open event streams at most: each costs a socket and a copy of every update. */
export const MAX_FEEDS = 32;
/** A stream whose reader has this much unread is dropped rather than buffered without end. */
export const MAX_FEED_BACKLOG = 4 * 1024 * 1024;

export interface DashboardFeedOptions {
  status: () => Promise<StatusDocument>;
  pool: () => Promise<PoolDocument>;
  /** Reads a peer's `/v1/history`; rejects when it cannot (an older peer, an unreachable one). */
  fetchHistory: (url: URL, timeoutMs: number) => Promise<HistoryDocument>;
  intervalMs: number;
  windowMs: number;
  timeoutMs: number;
  logger: Logger;
}

/** What each tick sends: the pool view and each reachable host's newest sample, by host URL. */
export interface PoolUpdate {
  pool: PoolDocument;
  samples: Record<string, HistorySample>;
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * This host's history ring, sampled every tick, and the dashboard's live updates (`GET /v1/events`,
 * server-sent events): a reader gets every host's history once, then the pool view every tick. The
 * pool view is built once per tick for all readers, and only while someone reads.
 */
export class DashboardFeed {
  readonly history: HistoryRing;
  private readonly feeds = new Set<ServerResponse>();
  private readonly poller: Poller;

  constructor(private readonly options: DashboardFeedOptions) {
    this.history = new HistoryRing(options.intervalMs, options.windowMs);
    this.poller = new Poller(() => this.tick(), options.intervalMs, (err) => options.logger.warn({ err: messageOf(err) }, 'dashboard update failed'));
  }

  start(): void {
    this.poller.start();
  }

  async stop(): Promise<void> {
    await this.poller.stop();
    for (const res of this.feeds) res.end();
    this.feeds.clear();
  }

  get readers(): number {
    return this.feeds.size;
  }

  private async tick(): Promise<void> {
    this.history.add(sampleOf(await this.options.status(), Date.now()));
    if (this.feeds.size > 0) this.broadcast(event('pool', await this.update()));
  }

  private async update(): Promise<PoolUpdate> {
    const pool = await this.options.pool();
    const t = Date.now();
    const samples: Record<string, HistorySample> = {};
    for (const host of pool.hosts) if (host.ok) samples[host.url] = sampleOf(host.status, t);
    return { pool, samples };
  }

  private broadcast(text: string): void {
    for (const res of this.feeds) this.write(res, text);
  }

  private write(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_FEED_BACKLOG) {
      this.options.logger.warn({ backlog: res.writableLength }, 'dashboard reader too slow: its event stream is closed');
      res.destroy();
      return;
    }
    res.write(text);
  }

  /** Every host's ring: this one's, and each peer's own (null where it cannot be read). */
  private async histories(pool: PoolDocument): Promise<Record<string, HistoryDocument | null>> {
    const entries = await Promise.all(
      pool.hosts.map(async (host): Promise<[string, HistoryDocument | null]> => {
        if (host.self) return [host.url, this.history.document()];
        if (!host.ok) return [host.url, null];
        try {
          return [host.url, await this.options.fetchHistory(new URL('/v1/history', host.url), this.options.timeoutMs)];
        } catch {
          return [host.url, null];
        }
      }),
    );
    return Object.fromEntries(entries);
  }

  /** `GET /v1/events`: refused with 503 past MAX_FEEDS readers. */
  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.feeds.size >= MAX_FEEDS) {
      const body = JSON.stringify({ error: { code: ErrorCodes.DASHBOARD_BUSY, message: `${MAX_FEEDS} dashboard event streams are open already; try again later` } });
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Retry-After': '10' });
      res.end(body);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    if (req.method === 'HEAD') return void res.end();
    this.feeds.add(res);
    res.on('close', () => this.feeds.delete(res));
    // The first update at once, with the history behind it, rather than one tick later.
    void (async () => {
      const update = await this.update();
      const histories = await this.histories(update.pool);
      if (!this.feeds.has(res)) return;
      this.write(res, `retry: ${Math.max(1000, this.options.intervalMs)}\n\n`);
      this.write(res, event('history', histories));
      this.write(res, event('pool', update));
    })().catch((err) => {
      this.options.logger.warn({ err: messageOf(err) }, 'dashboard stream failed');
      res.destroy();
    });
  }
}
