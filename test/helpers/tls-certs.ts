/** Test-time TLS material: throwaway CAs and certificates made with `openssl`, never committed. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  ca: string;
  key: string;
  cert: string;
}

/** A key and the certificate a test CA issued for it. */
export interface Issued {
  key: string;
  cert: string;
}

/** Why TLS tests cannot run here, or undefined when `openssl` is on the PATH. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is not installed (needed to make a test CA)';
  }
}

/** What one certificate of {@link makeCertSet} names and is for. */
export interface CertSpec {
  /** subjectAltName, e.g. `IP:127.0.0.1` or `DNS:tserver-a.test`; empty for none (the CN is then the only name). */
  san: string;
  /** Subject CN. Default `tserver-ha test`. */
  cn?: string;
  /** `client` for a client (mutual TLS) certificate; default `server`. */
  usage?: 'server' | 'client';
}

/**
 * One throwaway CA (PEM) and, for each entry of `specs`, a key and a certificate it issued. EC P-256
 * keys: quick to make.
 */
export function makeCertSet<K extends string>(specs: Record<K, CertSpec>): { ca: string; caKey: string } & Record<K, Issued> {
  const dir = mkdtempSync(join(tmpdir(), 'tsha-tls-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=tserver-ha test CA');
    const out: Record<string, unknown> = { ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), caKey: readFileSync(join(dir, 'ca.key'), 'utf8') };
    for (const [name, spec] of Object.entries(specs) as Array<[string, CertSpec]>) {
      run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${spec.cn ?? 'tserver-ha test'}`);
      const ext = [
        spec.san ? `subjectAltName=${spec.san}` : '',
        'basicConstraints=CA:FALSE',
        `extendedKeyUsage=${spec.usage === 'client' ? 'clientAuth' : 'serverAuth'}`,
      ].filter(Boolean);
      writeFileSync(join(dir, `${name}.cnf`), `${ext.join('\n')}\n`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.cnf`);
      out[name] = { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.pem`), 'utf8') };
    }
    return out as { ca: string; caKey: string } & Record<K, Issued>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Make a CA and a CA-signed server certificate with SAN IP:127.0.0.1 and DNS:localhost. */
export function makeCerts(): TestCerts {
  const { ca, server } = makeCertSet({ server: { san: 'IP:127.0.0.1,DNS:localhost', cn: 'localhost' } });
  return { ca, ...server };
}
