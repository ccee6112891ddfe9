/**
 * registerAddress()/unregisterAddress() across a failover, against scripted peers on loopback: they go through
 * the request book (one deadline, abort and failover rule with requests), so the application's calls reach
 * the next primary in the order they were made, and best-effort calls to a server that does not take
 * requests cannot pile up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import { Attr, MessageType, getAttr, int64 } from '../../lib/protocol/index.js';
import { referenceOf } from '../../lib/sim/frames.js';
import type { MessageFrame } from '../../lib/protocol/types.js';
import { TestPeer, type PeerConnection } from '../helpers/peer.js';
import { until } from './harness.js';

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups = [];
});

const is9000 = (f: MessageFrame) => getAttr(f, Attr.ThisDN) === '9000';

async function hotPair(name: string, options: Record<string, unknown> = {}): Promise<{ pair: TServerPair; primary: TestPeer; backup: TestPeer; pc: PeerConnection; bc: PeerConnection }> {
  const primary = await TestPeer.start({ role: 0 });
  const backup = await TestPeer.start({ role: 1 });
  cleanups.push(() => primary.close(), () => backup.close());
  const pair = new TServerPair({
    name, mode: 'hot', transport: 'node', addp: false,
    primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port },
    retry: { minDelayMs: 20, maxDelayMs: 200 }, ...options,
  });
  pair.on('error', () => {});
  cleanups.push(() => pair.close());
  const p = primary.nextConnection();
  const b = backup.nextConnection();
  await pair.open();
  const [pc, bc] = await Promise.all([p, b]);
  await until(() => pair.state.endpoints.backup.server === 'open' && pair.state.active === 'primary', 10_000, 'both open, primary active');
  return { pair, primary, backup, pc, bc };
}

describe('registrations across a failover', () => {
  it('an unregister made while no server is active reaches the next primary after the register it follows', async () => {
    const { pair, primary, pc, bc } = await hotPair('Race', { requestTimeoutMs: 30_000 });
    // The primary reads the registration and never answers it: in doubt when the primary goes.
    const reply = primary.reply.bind(primary);
    primary.reply = (c, f) => (f.type === MessageType.RequestRegisterAddress && is9000(f) ? undefined : reply(c, f));
    const reg = pair.registerAddress('9000');
    await pc.waitFor((f) => f.type === MessageType.RequestRegisterAddress && is9000(f));
    await primary.close();
    await until(() => pair.state.active === null, 10_000, 'no active server');
    const unreg = pair.unregisterAddress('9000');
    bc.send(MessageType.EventPrimaryChanged, { ServerRole: 0 });
    await Promise.all([reg, unreg]);
    // The register was repeated on the new primary, then the unregister: the application's last word stands.
    const calls = bc.received.filter((f) => (f.type === MessageType.RequestRegisterAddress || f.type === MessageType.RequestUnregisterAddress) && is9000(f));
    expect(calls.at(-1)?.type).toBe(MessageType.RequestUnregisterAddress);
  }, 60_000);

  it('a registration made while no server is active is answered by the server promoted next', async () => {
    const { pair, primary, backup, bc } = await hotPair('NoActive', { requestTimeoutMs: 30_000 });
    let promoted = false;
    const reply = backup.reply.bind(backup);
    // Until its promotion the backup refuses the DN (a best-effort call: not waited for).
    backup.reply = (c, f) => {
      if (!promoted && f.type === MessageType.RequestRegisterAddress && is9000(f)) return c.send(MessageType.EventError, { ...referenceOf(f), ErrorCode: 1234, ErrorMessage: 'not now' });
      reply(c, f);
    };
    await primary.close();
    await until(() => pair.state.active === null, 10_000, 'no active server');
    const reg = pair.registerAddress('9000');
    await bc.waitFor((f) => f.type === MessageType.RequestRegisterAddress && is9000(f));
    promoted = true;
    bc.send(MessageType.EventPrimaryChanged, { ServerRole: 0 });
    await reg;
    expect(bc.received.filter((f) => f.type === MessageType.RequestRegisterAddress && is9000(f)).length).toBe(2);
  }, 60_000);

  it('best-effort calls to a server that never answers them stay within maxPendingRequests', async () => {
    const { pair, backup } = await hotPair('Pending', { maxPendingRequests: 10, requestTimeoutMs: 5_000 });
    const reply = backup.reply.bind(backup);
    backup.reply = (c, f) => (f.type === MessageType.RequestRegisterAddress || f.type === MessageType.RequestUnregisterAddress ? undefined : reply(c, f));
    for (let i = 0; i < 300; i++) {
      await pair.registerAddress(`7${i}`);
      await pair.unregisterAddress(`7${i}`);
    }
    const internals = (pair as unknown as Record<symbol, () => Record<string, number>>)[Symbol.for('tserver-ha.internals')]!();
    expect(internals.pendingBackup).toBeLessThanOrEqual(10);
    expect(pair.state.endpoints.backup.server).toBe('open');
  }, 60_000);

  it('a call whose signal already aborted changes nothing: AbortedError, no frame to either server, the set as it was', async () => {
    const { pair, backup, pc, bc } = await hotPair('Aborted', { dns: ['7001'] });
    const dnCalls = (c: PeerConnection) => c.received.filter((f) => f.type === MessageType.RequestRegisterAddress || f.type === MessageType.RequestUnregisterAddress)
      .map((f) => `${f.type === MessageType.RequestRegisterAddress ? 'reg' : 'unreg'} ${getAttr(f, Attr.ThisDN)}`);
    const before = { p: dnCalls(pc).length, b: dnCalls(bc).length };
    await expect(pair.registerAddress('9100', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(pair.unregisterAddress('7001', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // A call that goes through after them: each connection is ordered, so anything sent before it arrived first.
    await pair.registerAddress('9200');
    await bc.waitFor((f) => f.type === MessageType.RequestRegisterAddress && getAttr(f, Attr.ThisDN) === '9200', 30_000);
    expect(dnCalls(pc).slice(before.p)).toEqual(['reg 9200']);
    expect(dnCalls(bc).slice(before.b)).toEqual(['reg 9200']);
    // The registration set: what the backup's next session registers.
    const next = backup.nextConnection(30_000);
    bc.reset();
    const bc2 = await next;
    await until(() => pair.state.endpoints.backup.server === 'open', 30_000, 'backup open again');
    expect(dnCalls(bc2).sort()).toEqual(['reg 7001', 'reg 9200']);
  }, 60_000);
});
