import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
import type { DaemonConfig } from '../config/schema.js';
import { ErrorCodes, GpupoolError, messageOf } from '../errors.js';

/**
 * The daemon's TLS files (`tls.cert`, `tls.key`, `tls.clientCa`), read and checked as a whole: every
 * certificate parses, the key is the certificate's, and OpenSSL takes them together. A mistake names
 * the file (GPUPOOL_TLS_UNREADABLE, GPUPOOL_TLS_INVALID), at start (exit 2) and on reload (the files
 * in force stay so).
 */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Client certificates must be signed by one of these; null: none are asked for. */
  ca: Buffer | null;
  /** The daemon's certificate, for the log: its subject and the end of its validity. */
  subject: string;
  validTo: Date;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function read(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new GpupoolError(ErrorCodes.TLS_UNREADABLE, `${key} ${path}: ${messageOf(err)}`, { cause: err, details: { key, path } });
  }
}

function invalid(key: string, path: string, message: string, cause?: unknown): GpupoolError {
  return new GpupoolError(ErrorCodes.TLS_INVALID, `${key} ${path}: ${message}`, { cause, details: { key, path } });
}

/** Every certificate of a PEM file (a chain, or a CA bundle), each parsed. */
function certificates(key: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw invalid(key, path, 'no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw invalid(key, path, `certificate ${i + 1} does not parse (${messageOf(err)})`, err);
    }
  });
}

function privateKey(path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const why = /passphrase/i.test(messageOf(err)) ? 'an encrypted key is not supported (decrypt it: openssl pkey -in KEY -out KEY.plain)' : messageOf(err);
    throw invalid('tls.key', path, `not a PEM private key: ${why}`, err);
  }
}

/** Reads the configured files; null when TLS is off (no `tls.cert`). */
export function readTlsMaterial(files: DaemonConfig['tls']): TlsMaterial | null {
  if (files.cert === null || files.key === null) return null;
  const cert = read('tls.cert', files.cert);
  const key = read('tls.key', files.key);
  const ca = files.clientCa === null ? null : read('tls.clientCa', files.clientCa);
  const [leaf] = certificates('tls.cert', files.cert, cert);
  const keyObject = privateKey(files.key, key);
  if (!leaf!.checkPrivateKey(keyObject)) throw invalid('tls.key', files.key, `not the private key of tls.cert ${files.cert}`);
  if (ca !== null) certificates('tls.clientCa', files.clientCa!, ca);
  const material: TlsMaterial = { cert, key, ca, subject: leaf!.subject.replace(/\n/g, ', '), validTo: new Date(leaf!.validTo) };
  try {
    createSecureContext(secureContextOptions(material));
  } catch (err) {
    // What OpenSSL refuses that the checks above let through (a key too weak for its policy, say).
    throw invalid('tls.cert', files.cert, `OpenSSL refuses it with tls.key ${files.key}${files.clientCa ? ` and tls.clientCa ${files.clientCa}` : ''}: ${messageOf(err)}`, err);
  }
  return material;
}

/** The secure context's part of the server options: what a reload swaps. */
export function secureContextOptions(m: TlsMaterial): TlsOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: 'TLSv1.2' };
}

/**
 * Server options. With a CA, a client certificate is asked for, but the handshake completes whatever
 * the client sends: the HTTP server refuses a connection whose certificate did not verify with 403
 * and the reason (clientCertificateProblem), which the client can show its user, where a TLS-level
 * refusal would only be a closed socket.
 */
export function serverTlsOptions(m: TlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  return { ...secureContextOptions(m), requestCert: m.ca !== null, rejectUnauthorized: false, handshakeTimeout: handshakeTimeoutMs };
}

/** Why a connection's client certificate is not accepted (the HTTP reason phrase of the 403), or null when it is. */
export function clientCertificateProblem(socket: TLSSocket): string | null {
  if (socket.authorized) return null;
  const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
  if (!presented) return 'client certificate required (GPUPOOL_TLS_CERT, GPUPOOL_TLS_KEY)';
  const why = String(socket.authorizationError ?? 'not verified');
  return `client certificate refused (${why}): it must be signed by the daemon's tls.clientCa, for client use`;
}
