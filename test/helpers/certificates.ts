import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM certificate and its key, as files. */
export interface CertFiles {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/**
 * A throwaway certificate authority in a temporary folder, made with the openssl command as an
 * operator would (docs/security.md): it signs server certificates (for IP addresses and names) and
 * client certificates (for a subject CN). EC P-256 keys: quick to make.
 */
export class TestCa implements CertFiles {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  private serial = 1;

  constructor(readonly name = 'gpupool test CA') {
    this.dir = mkdtempSync(join(tmpdir(), 'gpupool-ca-'));
    this.cert = join(this.dir, 'ca.pem');
    this.key = join(this.dir, 'ca.key');
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', `/CN=${name}`, '-keyout', this.key, '-out', this.cert,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }

  private issue(file: string, cn: string, extensions: string[], days: number): CertFiles {
    const key = join(this.dir, `${file}.key`);
    const csr = join(this.dir, `${file}.csr`);
    const cert = join(this.dir, `${file}.pem`);
    const ext = join(this.dir, `${file}.ext`);
    writeFileSync(ext, `${['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions].join('\n')}\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', key, '-out', csr]);
    // -days 0: valid for the second it was made in, expired from the next one on.
    openssl(['x509', '-req', '-in', csr, '-CA', this.cert, '-CAkey', this.key, '-set_serial', String(this.serial++), '-days', String(days), '-extfile', ext, '-out', cert]);
    return { cert, key };
  }

  /** A daemon's certificate valid for these IP addresses and DNS names (days 0: one that expired). */
  server(file: string, names: string[] = ['127.0.0.1', 'localhost'], days = 2): CertFiles {
    const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    return this.issue(file, names[0]!, ['extendedKeyUsage=serverAuth', `subjectAltName=${san}`], days);
  }

  /** A client certificate whose subject CN is `cn`. */
  client(file: string, cn: string): CertFiles {
    return this.issue(file, cn, ['extendedKeyUsage=clientAuth'], 2);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
