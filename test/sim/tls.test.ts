/**
 * The simulator's client ports over TLS (docs/simulator.md, "TLS"): options, the certificate it makes,
 * the key kept off command lines, the protocol and faults over TLS, and `tserver-ha sim --tls`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { MessageType } from '../../lib/protocol/index.js';
import { makeSimCertificates, resolveSimulationOptions, startSimulation, type Simulation } from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'lib', 'cli', 'main.js');

describe('simulator TLS', { timeout: 30_000 }, () => {
  it('makeSimCertificates: a CA, and a server certificate it issued naming exactly the hosts', () => {
    const c = makeSimCertificates(['127.0.0.1', '::1', 'localhost'], 2);
    const ca = new X509Certificate(c.ca);
    const cert = new X509Certificate(c.cert);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(1.9);
    expect(days).toBeLessThan(2.1);
    expect(Date.parse(cert.validFrom)).toBeLessThan(Date.now());
    expect(cert.checkPrivateKey(createPrivateKey(c.key))).toBe(true);
    // Each call is a new CA: one simulation's CA does not vouch for another's certificate.
    expect(cert.checkIssued(new X509Certificate(makeSimCertificates(['127.0.0.1']).ca))).toBe(false);
  });

  it('options: tls true, false, { key, cert, ca? }; anything else is a ConfigError', () => {
    const c = makeSimCertificates(['127.0.0.1']);
    expect(resolveSimulationOptions({}).tls).toBeUndefined();
    expect(resolveSimulationOptions({ tls: false }).tls).toBeUndefined();
    expect(resolveSimulationOptions({ tls: true }).tls).toBe('generate');
    expect(resolveSimulationOptions({ tls: { key: Buffer.from(c.key), cert: c.cert, ca: c.ca } }).tls).toEqual({ key: c.key, cert: c.cert, ca: c.ca });
    const other = makeSimCertificates(['127.0.0.1']);
    for (const bad of [null, 'yes', 1, {}, { key: c.key }, { key: c.key, cert: 'not a certificate' }, { key: other.key, cert: c.cert }, { key: c.key, cert: c.cert, ca: 5 }]) {
      expect(() => resolveSimulationOptions({ tls: bad as never }), JSON.stringify(bad)?.slice(0, 40)).toThrow(ConfigError);
    }
  });

  it('a TLS client registers and gets events; plaintext gets nothing; the key is on no command line', async () => {
    const s = (sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 1, tls: true }));
    expect(s.tls).toMatchObject({ generated: true });
    expect(readFileSync(s.tls!.caFile!, 'utf8')).toBe(s.tls!.ca);
    for (const ep of [s.primary, s.backup]) {
      const c = await RawClient.connectTls(ep.port, s.tls!.ca!);
      clients.push(c);
      await c.register('tls');
      for (const dn of s.routePoints.concat(s.agents)) await c.registerDn(dn);
    }
    const { seq } = await s.emit(10);
    await until(() => clients.every((c) => c.seqs.at(-1) === seq), 5000, 'events over TLS');
    // A plaintext client's bytes are not TLS: the server drops it without a frame.
    const plain = net.connect({ host: s.host, port: s.primary.port });
    await once(plain, 'connect');
    const got: Buffer[] = [];
    plain.on('data', (d: Buffer) => got.push(d));
    plain.on('error', () => {});
    plain.write(Buffer.from([0, 0, 0, 6, 1, 2, 0, 0, 0, 1])); // an ADDP poll
    await once(plain, 'close');
    expect(Buffer.concat(got).subarray(0, 4).equals(Buffer.from([0, 0, 0, 6]))).toBe(false);
    // The servers' key reached them through the environment, not argv (world-readable in /proc).
    const pids = s.pids();
    for (const pid of process.platform === 'linux' ? [pids.A!, pids.B!] : []) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      expect(cmdline).toContain('tserver-main.js');
      expect(cmdline).not.toMatch(/PRIVATE KEY/);
    }
  });

  it('faults over TLS: malformed frames reach the client; refuse closes the TLS port', async () => {
    const s = (sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 1, tls: true }));
    const c = await RawClient.connectTls(s.primary.port, s.tls!.ca!);
    clients.push(c);
    await c.register('tls');
    await s.fault({ kind: 'malformed', server: 'primary', variant: 'bad-kind' });
    await until(() => c.protocolError !== undefined, 5000, 'the malformed frame');
    expect(c.protocolError?.message).toMatch(/kind/);
    await s.fault({ kind: 'refuse', server: 'primary' });
    await until(async () => RawClient.connectTls(s.primary.port, s.tls!.ca!).then((x) => (x.close(), false), () => true), 5000, 'refused');
    await s.fault({ kind: 'refuse', server: 'primary', on: false });
    await until(async () => RawClient.connectTls(s.primary.port, s.tls!.ca!).then((x) => (x.close(), true), () => false), 5000, 'accepted again');
  });

  it('tserver-ha sim --tls prints the CA file; bad TLS options exit 2', async () => {
    const p = spawn(process.execPath, [cli, 'sim', '--json', '--tls'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('\n'), 15_000, 'CLI endpoints');
    const info = JSON.parse(out.split('\n')[0]!) as { primary: { port: number }; tls: { caFile: string; generated: boolean } };
    expect(info.tls.generated).toBe(true);
    const c = await RawClient.connectTls(info.primary.port, readFileSync(info.tls.caFile, 'utf8'));
    clients.push(c);
    expect((await c.register('cli')).type).toBe(MessageType.EventServerInfo);
    p.kill('SIGINT');
    const [code] = (await once(p, 'exit')) as [number];
    expect(code).toBe(0);
    const file = join(root, 'package.json'); // any readable file
    for (const args of [['--tls-key', '/nonexistent'], ['--tls-ca', file], ['--tls', '--tls-key', file, '--tls-cert', file]]) {
      const q = spawn(process.execPath, [cli, 'sim', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      q.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const [qc] = (await once(q, 'exit')) as [number];
      expect(qc, args.join(' ')).toBe(2);
      expect(err).toMatch(/--tls/);
    }
  });
});
