/**
 * Failover over TLS, end to end: the simulator serves its client ports over TLS (a CA and a certificate for
 * 127.0.0.1 made by makeSimCertificates, or by the simulator itself with `tls: true`), the pair trusts that
 * CA only (`tls: { ca }`, certificates verified:
 * `rejectUnauthorized` left at Node's default, true) and is checked against the server's configured host
 * (an IP, so against the certificate's IP subjectAltName). TLS forces the node transport. The primary is
 * killed; what the application saw is compared with the switch's oracle, as in scenarios.test.ts.
 */
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { TransportError } from '../../lib/errors.js';
import type { ConnectFailedEvent, GapEvent, SwitchoverEvent } from '../../lib/pair/events.js';
import { TServerPair } from '../../lib/pair/pair.js';
import { makeSimCertificates, startSimulation, type Simulation } from '../../lib/sim/index.js';
import { rig, sleep, until, type Rig } from './harness.js';

let r: Rig | undefined;
let sim: Simulation | undefined;
let pair: TServerPair | undefined;
afterEach(async () => {
  await r?.stop();
  await pair?.close();
  await sim?.stop();
  r = sim = pair = undefined;
});

// One CA and server certificate (127.0.0.1, ::1, localhost) for the simulations given PEMs; the CA's key is gone.
const certs = makeSimCertificates(['127.0.0.1', '::1', 'localhost']);
const fast = { addp: { timeoutMs: 150 }, splitBrainGraceMs: 200, warmBackupWaitMs: 500, breaker: { resetTimeoutMs: 1000 } } as const;

describe('failover over TLS (node transport, certificates verified)', () => {
  it.each(['hot', 'warm'] as const)('%s: primary killed — events from the backup, none lost or repeated against the oracle', async (mode) => {
    const rr = (r = await rig(
      { mode, rate: 3000, promotionDelayMs: 200, hangTimeoutMs: 1000, tls: certs },
      { ...fast, tls: { ca: certs.ca } },
    ));
    expect(rr.sim.tls).toMatchObject({ generated: false, ca: certs.ca, cert: certs.cert });
    expect(rr.pair.options.tls?.rejectUnauthorized).toBeUndefined(); // Node's default: verify
    await rr.pair.open();
    await until(() => {
      const st = rr.pair.state;
      const up = (e: typeof st.endpoints.primary) => e.server === 'open' && e.link === 'up';
      return st.active === 'primary' && up(st.endpoints.primary) && (mode === 'warm' || up(st.endpoints.backup));
    }, 10_000, () => `steady state; state ${JSON.stringify(rr.pair.state)} timeline ${rr.timeline().join(' ')}`);
    expect(rr.pair.state.endpoints.primary.transport).toBe('node');
    await until(() => rr.seqs.length > 100, 10_000, 'traffic');
    const firstSeq = rr.seqs[rr.seqs.length - 1]!;
    const mark = rr.log.length;

    await rr.sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => rr.pair.state.active === 'backup', 15_000, () => `the backup active; timeline ${rr.timeline().slice(mark).join(' ')}`);
    const atSwitch = rr.seqs.length;
    await until(() => rr.seqs.length > atSwitch + 300, 10_000, 'traffic from the backup');
    expect(rr.pair.state.endpoints.backup.transport).toBe('node');
    const sw = rr.log.slice(mark).find((e) => e.type === 'switchover')?.data as SwitchoverEvent | undefined;
    expect(sw).toMatchObject({ reason: 'crash', from: 'primary', to: 'backup' });
    await rr.sim.setRate(0);
    await sleep(300);
    const lastSeq = rr.seqs[rr.seqs.length - 1]!;
    const cmp = rr.check({ afterSeq: firstSeq, upToSeq: lastSeq });
    const gaps = rr.log.filter((e) => e.type === 'gap').map((e) => e.data as GapEvent);
    expect(cmp.duplicated).toEqual([]);
    expect(cmp.unexpected).toEqual([]);
    if (mode === 'hot') {
      // Hot: the backup's TLS stream fills the failover gap: nothing lost, nothing reported missing.
      expect(cmp.lost).toEqual([]);
      expect(gaps).toEqual([]);
    } else {
      // Warm: the events while no server served clients are lost by design, each inside a reported gap;
      // from the end of the last gap on (the backup's stream), nothing is lost.
      expect(gaps.length).toBeGreaterThan(0);
      expect(cmp.lost.filter((s) => !gaps.some((g) => s >= g.fromSeq && s <= g.toSeq))).toEqual([]);
      const fromBackup = rr.check({ afterSeq: Math.max(...gaps.map((g) => g.toSeq)), upToSeq: lastSeq });
      expect(fromBackup.expected).toBeGreaterThan(300);
      expect(fromBackup.lost).toEqual([]);
      expect(fromBackup.duplicated).toEqual([]);
    }
    expect(cmp.received).toBeGreaterThan(300);
  });

  it('a certificate from another CA is refused: no session, the TLS error named', async () => {
    const rr = (r = await rig(
      { mode: 'hot', tls: certs },
      { tls: { ca: makeSimCertificates(['127.0.0.1']).ca }, openTimeoutMs: 1500, retry: { minDelayMs: 50, maxDelayMs: 100 } },
    ));
    const failed: ConnectFailedEvent[] = [];
    rr.pair.on('connectFailed', (e) => failed.push(e));
    await expect(rr.pair.open()).rejects.toMatchObject({ code: 'ERR_OPEN_TIMEOUT' });
    expect(rr.log.filter((e) => e.type === 'EventServerConnected')).toEqual([]);
    expect(failed.length).toBeGreaterThan(0);
    const err = failed[0]!.error as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.syscallCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(err.message).toMatch(/the certificate of 127\.0\.0\.1:\d+ was refused/);
  });

  it('tls: true — the simulator makes its own CA and certificate; a pair trusting that CA connects', async () => {
    const s = (sim = await startSimulation({ mode: 'hot', tls: true }));
    expect(s.tls?.generated).toBe(true);
    expect(s.tls?.caFile).toMatch(/ca\.pem$/);
    const { host, port } = s.primary;
    const sock = tls.connect({ host, port, ca: s.tls!.ca! });
    await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
    expect(sock.authorized).toBe(true);
    expect(sock.getPeerX509Certificate()?.checkIP('127.0.0.1')).toBe('127.0.0.1');
    sock.destroy();
    const p = (pair = new TServerPair({
      name: 'TlsTrue', primary: { host, port }, backup: { host: s.backup.host, port: s.backup.port },
      dns: s.routePoints, tls: { ca: s.tls!.ca! },
    }));
    p.on('error', () => {});
    await p.open();
    expect(p.state.endpoints.primary).toMatchObject({ server: 'open', transport: 'node' });
  });
});
