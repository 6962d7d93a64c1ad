import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { packageRoot } from '../../../src/paths.js';

/**
 * A loopback stand-in for the Kubernetes API server, as far as gpupool uses it: ResourceClaims to
 * read, ResourceSlices to list, create, replace and delete. Every slice written is checked against
 * resource.k8s.io/v1's schema (schema/README.md) and refused with 422, as the real server refuses an
 * invalid object; `rejected` keeps what was refused and why, so a test can assert there was nothing.
 */

const SCHEMA = JSON.parse(readFileSync(join(packageRoot, 'test', 'cluster', 'kubernetes', 'schema', 'resourceslice-v1.schema.json'), 'utf8')) as object;

interface Obj {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export class FakeApiServer {
  readonly claims = new Map<string, Obj>();
  readonly slices = new Map<string, Obj>();
  readonly rejected: { name: string; errors: string }[] = [];
  /** Each request, as `METHOD PATH`. */
  readonly requests: string[] = [];
  readonly validate = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);
  private server: Server | null = null;
  private version = 1;
  url = '';
  token = 'test-token';

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  addClaim(claim: Obj): void {
    this.claims.set(`${claim.metadata.namespace}/${claim.metadata.name}`, claim);
  }

  /** The schema's errors for an object, or null when it is valid. */
  check(object: unknown): string | null {
    return this.validate(object) ? null : JSON.stringify(this.validate.errors);
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(`${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, { kind: 'Status', message: 'Unauthorized' });
    const claim = /^\/apis\/resource\.k8s\.io\/v1\/namespaces\/([^/]+)\/resourceclaims\/([^/]+)$/.exec(url.pathname);
    if (claim && req.method === 'GET') {
      const found = this.claims.get(`${claim[1]}/${claim[2]}`);
      return found ? this.send(res, 200, found) : this.send(res, 404, { kind: 'Status', message: 'not found' });
    }
    const slice = /^\/apis\/resource\.k8s\.io\/v1\/resourceslices(?:\/([^/]+))?$/.exec(url.pathname);
    if (!slice) return this.send(res, 404, { kind: 'Status', message: `no route ${url.pathname}` });
    const name = slice[1];
    if (req.method === 'GET' && !name) {
      const [key, value] = (url.searchParams.get('labelSelector') ?? '=').split('=');
      const items = [...this.slices.values()].filter((s) => !key || s.metadata.labels?.[key] === value);
      return this.send(res, 200, { kind: 'ResourceSliceList', items });
    }
    if (req.method === 'DELETE' && name) {
      const existed = this.slices.delete(name);
      return existed ? this.send(res, 200, { kind: 'Status', status: 'Success' }) : this.send(res, 404, { kind: 'Status', message: 'not found' });
    }
    if (req.method !== 'POST' && req.method !== 'PUT') return this.send(res, 405, { kind: 'Status', message: 'method not allowed' });
    let object: Obj;
    try {
      object = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj;
    } catch {
      return this.send(res, 400, { kind: 'Status', message: 'not JSON' });
    }
    const errors = this.check(object);
    if (errors !== null) {
      this.rejected.push({ name: object.metadata?.name, errors });
      return this.send(res, 422, { kind: 'Status', message: `ResourceSlice is invalid: ${errors}` });
    }
    const existing = this.slices.get(object.metadata.name);
    if (req.method === 'POST' && existing) return this.send(res, 409, { kind: 'Status', message: 'already exists' });
    if (req.method === 'PUT') {
      if (!existing || name !== object.metadata.name) return this.send(res, 404, { kind: 'Status', message: 'not found' });
      if (object.metadata.resourceVersion !== existing.metadata.resourceVersion) return this.send(res, 409, { kind: 'Status', message: 'the object has been modified' });
    }
    object.metadata.resourceVersion = String((this.version += 1));
    this.slices.set(object.metadata.name, object);
    return this.send(res, req.method === 'POST' ? 201 : 200, object);
  }
}
