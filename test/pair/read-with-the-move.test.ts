/**
 * Events read in the same batch as the report that moves delivery away from their connection. The
 * transport's hold window holds only what it reads after `hold()`; the rest of that batch is already out of
 * it. Those events must still be delivered if delivery comes back to the connection (or be reported in a
 * gap) — before the fix they were dropped without a gap (found by `check:sim --renumber`, seed 777).
 * Real sockets, both transports: scripted peers write the whole flap and the events in one write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import type { GapEvent } from '../../lib/pair/events.js';
import { MessageType, encodeMessage, int64 } from '../../lib/protocol/index.js';
import { TestPeer, type PeerConnection } from '../helpers/peer.js';
import { until } from './harness.js';
import { transportsUnderTest } from './transports.js';

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups = [];
});

const event = (seq: number) => encodeMessage(MessageType.EventRouteRequest, { ThisDN: '5001', ConnID: int64(0x1000n + BigInt(seq)), EventSequenceNumber: int64(seq) });
const linkReport = (up: boolean, seq: number) =>
  encodeMessage(up ? MessageType.EventLinkConnected : MessageType.EventLinkDisconnected, { EventSequenceNumber: int64(seq), TimeinSecs: 1_700_000_000, TimeinuSecs: up ? 2 : 1 });

/**
 * A hot pair on two scripted peers, delivering from the primary, both peers' streams at 1005 and delivered
 * up to there; then one write from the primary: its CTI link flaps (delivery moves to the backup on the down
 * report) and two events the backup will never send follow (1006, 1007). One read on our side, most of the
 * time; when the kernel splits it, the later part is held by the transport's window and the checks hold
 * either way. `log` has every event and gap in order.
 */
async function movedWithEventsInTheSameRead(transport: 'node' | 'native', window?: { maxFrames: number }) {
  const primary = await TestPeer.start({ role: 0 });
  const backup = await TestPeer.start({ role: 1 });
  cleanups.push(() => primary.close(), () => backup.close());
  const pair = new TServerPair({
    name: 'ReadWithTheMove', mode: 'hot', transport, addp: false,
    primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port },
    retry: { minDelayMs: 20, maxDelayMs: 200 }, ...(window ? { window } : {}),
  });
  const seqs: number[] = [];
  const gaps: GapEvent[] = [];
  const log: string[] = [];
  pair.on('event', (e) => {
    seqs.push(e.seq);
    log.push(`ev ${e.seq}`);
  });
  pair.on('gap', (g) => {
    gaps.push(g);
    log.push(`gap ${g.fromSeq}..${g.toSeq}`);
  });
  pair.on('error', () => {});
  cleanups.push(() => pair.close());
  const p = primary.nextConnection();
  const b = backup.nextConnection();
  await pair.open();
  const [pc, bc]: PeerConnection[] = await Promise.all([p, b]);
  await until(() => pair.state.source === 'primary' && pair.state.endpoints.backup.server === 'open', 10_000, 'both open, primary delivering');
  for (let s = 1001; s <= 1005; s++) {
    pc.sendRaw(event(s));
    bc.sendRaw(event(s));
  }
  await until(() => seqs.includes(1005), 10_000, 'events up to 1005 delivered');
  pc.sendRaw(Buffer.concat([linkReport(false, 1005), linkReport(true, 1005), event(1006), event(1007)]));
  await until(() => pair.state.source === 'backup', 10_000, () => `delivery moved to the backup: ${JSON.stringify(pair.state)}`);
  return { pair, pc, bc, seqs, gaps, log };
}

describe.each(transportsUnderTest())('events read together with the report that moved delivery away (%s transport)', (transport) => {
  it('are delivered when delivery comes back to their connection', async () => {
    const { pair, pc, bc, seqs, gaps } = await movedWithEventsInTheSameRead(transport);
    // The backup dies before it sends 1006 and 1007.
    bc.reset();
    await until(() => pair.state.source === 'primary', 10_000, () => `delivery back on the primary: ${JSON.stringify(pair.state)}`);
    pc.sendRaw(event(1008));
    await until(() => seqs.includes(1008), 10_000, () => `1008 delivered; got ${seqs.join(',')}`);

    const reported = (s: number) => gaps.some((g) => g.fromSeq <= s && s <= g.toSeq);
    // Before the fix: 1006 and 1007 neither delivered nor in a gap.
    for (const s of [1006, 1007]) expect(seqs.includes(s) || reported(s), `${s}: delivered ${seqs.join(',')}; gaps ${JSON.stringify(gaps)}`).toBe(true);
    expect(seqs.filter((s) => s === 1006 || s === 1007)).toEqual([1006, 1007]);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  }, 60_000);

  it('are not delivered after a gap that covers them (the window evicted newer ones)', async () => {
    const { pair, pc, bc, seqs, gaps, log } = await movedWithEventsInTheSameRead(transport, { maxFrames: 2 });
    // The primary's window (2 frames) takes 1008..1012 and evicts the oldest: 1008..1010 — newer than the
    // two events the endpoint held for it, so those count as evicted too (old code: gap 1006..1010, then
    // 1006 and 1007 delivered after it).
    for (let s = 1008; s <= 1012; s++) pc.sendRaw(event(s));
    // Requests go to the primary (its role; the link is up again): its answer comes after those events on
    // the same stream, and replies are never held — once it is here, the window has taken all five.
    expect(pair.state.active).toBe('primary');
    await pair.request('RequestQueryServer', {});
    bc.reset();
    await until(() => pair.state.source === 'primary', 10_000, 'delivery back on the primary');
    pc.sendRaw(event(1013));
    await until(() => seqs.includes(1013), 10_000, () => `1013 delivered: ${log.join(' | ')}`);
    for (const g of gaps) {
      for (const s of seqs) {
        if (g.fromSeq <= s && s <= g.toSeq) expect(log.indexOf(`ev ${s}`) < log.indexOf(`gap ${g.fromSeq}..${g.toSeq}`), `ev ${s} after gap ${g.fromSeq}..${g.toSeq}: ${log.join(' | ')}`).toBe(true);
      }
    }
    // The case is exercised: the window evicted (1008 is in a gap, not delivered).
    expect(gaps.some((g) => g.fromSeq <= 1008 && 1008 <= g.toSeq) && !seqs.includes(1008), log.join(' | ')).toBe(true);
    // Nothing lost silently either: every number up to 1013 delivered or inside a gap.
    for (let s = 1001; s <= 1013; s++) expect(seqs.includes(s) || gaps.some((g) => g.fromSeq <= s && s <= g.toSeq), `${s}: ${log.join(' | ')}`).toBe(true);
  }, 60_000);
});
