import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ErrorCodes, GpupoolError, messageOf } from '../../errors.js';

/**
 * A small client of the Kubernetes API server: JSON objects by path, a bearer token and the cluster's
 * CA. In a pod it reads the service account's files; elsewhere `--api-server`, `--api-token-file`
 * and `--api-ca` name them.
 */

export interface KubeApiOptions {
  /** `https://HOST:PORT` (or `http://` for a local test server). */
  server: string;
  token?: string;
  ca?: Buffer;
  timeoutMs?: number;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster settings, from the pod's environment and service account. */
export function inClusterOptions(): KubeApiOptions {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, 'not in a pod (no KUBERNETES_SERVICE_HOST): give --api-server');
  try {
    return {
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      token: readFileSync(`${SERVICE_ACCOUNT}/token`, 'utf8').trim(),
      ca: readFileSync(`${SERVICE_ACCOUNT}/ca.crt`),
    };
  } catch (err) {
    throw new GpupoolError(ErrorCodes.CLUSTER_SETUP, `cannot read the service account in ${SERVICE_ACCOUNT}: ${messageOf(err)}`, { cause: err });
  }
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export class KubeApi {
  constructor(private readonly options: KubeApiOptions) {}

  /** The object at `path`; null when the server says 404. */
  async get<T extends KubeObject>(path: string): Promise<T | null> {
    const { status, body } = await this.call('GET', path);
    if (status === 404) return null;
    this.check('GET', path, status, body);
    return body as T;
  }

  async list<T extends KubeObject>(path: string): Promise<T[]> {
    const { status, body } = await this.call('GET', path);
    this.check('GET', path, status, body);
    return ((body as { items?: T[] }).items ?? []) as T[];
  }

  async create<T extends KubeObject>(path: string, object: T): Promise<T> {
    const { status, body } = await this.call('POST', path, object);
    this.check('POST', path, status, body);
    return body as T;
  }

  async replace<T extends KubeObject>(path: string, object: T): Promise<T> {
    const { status, body } = await this.call('PUT', path, object);
    this.check('PUT', path, status, body);
    return body as T;
  }

  /** Deletes it; one already gone is not an error. */
  async delete(path: string): Promise<void> {
    const { status, body } = await this.call('DELETE', path);
    if (status !== 404) this.check('DELETE', path, status, body);
  }

  private check(method: string, path: string, status: number, body: unknown): void {
    if (status >= 200 && status < 300) return;
    const said = (body as { message?: unknown } | null)?.message;
    throw new GpupoolError(ErrorCodes.KUBE_API, `${method} ${path}: HTTP ${status}${typeof said === 'string' ? `: ${said}` : ''}`, { details: { status, path } });
  }

  private call(method: string, path: string, object?: unknown): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.options.server);
    const payload = object === undefined ? undefined : Buffer.from(JSON.stringify(object));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const signal = AbortSignal.timeout(this.options.timeoutMs ?? 10_000);
    return new Promise((resolve, reject) => {
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          try {
            body = text === '' ? null : JSON.parse(text);
          } catch {
            body = { message: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      };
      const options = { method, headers, signal };
      const req = url.protocol === 'https:' ? httpsRequest(url, { ...options, ca: this.options.ca }, onResponse) : httpRequest(url, options, onResponse);
      req.on('error', (err) => reject(new GpupoolError(ErrorCodes.KUBE_API, `${method} ${url.href}: cannot reach the API server: ${messageOf(err)}`, { cause: err })));
      req.end(payload);
    });
  }
}
