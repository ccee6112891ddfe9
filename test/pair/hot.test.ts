import { afterEach, describe, expect, it } from 'vitest';
import { rig, sleep, until, type Rig } from './harness.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

describe('hot standby', () => {
  it('opens on the primary, delivers events once and in order', async () => {
    r = await rig({ mode: 'hot', rate: 2000 }, { transport: 'node' });
    await r.pair.open();
    expect(r.pair.state.active).toBe('primary');
    await until(() => r!.seqs.length > 200, 10_000, '200 events');
    const s = r.seqs;
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]!);
    expect(r.timeline()).toEqual(expect.arrayContaining(['EventServerConnected:primary', 'EventLinkConnected:primary', 'EventServerConnected:backup']));
  });

  it('loses nothing and repeats nothing when the primary is killed under load', async () => {
    r = await rig({ mode: 'hot', rate: 5000, promotionDelayMs: 300 }, { transport: 'node' });
    await r.pair.open();
    // Zero loss needs the backup connected and registered before the fault (otherwise the loss is a gap).
    await until(() => r!.pair.state.endpoints.backup.server === 'open', 10_000, 'backup open');
    await until(() => r!.seqs.length > 500, 10_000, 'traffic');
    const first = r.seqs[r.seqs.length - 1]!; // every registration took effect before this one
    await r.sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => r!.log.some((e) => e.type === 'switchover'), 10_000, 'switchover');
    const n = r.seqs.length;
    await until(() => r!.seqs.length > n + 500, 10_000, 'traffic after switchover');
    await r.sim.setRate(0);
    await sleep(300);
    const last = r.seqs[r.seqs.length - 1]!;
    const cmp = r.check({ afterSeq: first, upToSeq: last });
    expect(cmp.duplicated).toEqual([]);
    expect(cmp.lost).toEqual([]);
    expect(r.log.filter((e) => e.type === 'gap')).toEqual([]);
    const sw = r.log.find((e) => e.type === 'switchover')!.data as { from: string; to: string; reason: string };
    expect(sw).toMatchObject({ from: 'primary', to: 'backup', reason: 'crash' });
    expect(r.pair.state.active).toBe('backup');
  });
});

describe('pair lifecycle API', () => {
  it('events() yields every public event in order and ends when the pair closes; asyncDispose closes it', async () => {
    r = await rig({ mode: 'hot', rate: 500 }, { transport: 'node' });
    const rr = r;
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const rec of rr.pair.events()) seen.push(rec.type === 'event' ? 'event' : `${rec.type}`);
    })();
    await rr.pair.open();
    await until(() => seen.filter((s) => s === 'event').length > 20, 10_000, 'events through the iterator');
    expect(seen.indexOf('EventServerConnected')).toBeLessThan(seen.indexOf('event'));
    await rr.pair[Symbol.asyncDispose]();
    await consumer; // the iterator ended by itself
    expect(rr.pair.state.open).toBe(false);
    expect(seen).toContain('EventServerDisconnected');
  });

  it('events({ signal }) stops at abort while the pair stays open', async () => {
    r = await rig({ mode: 'hot', rate: 500 }, { transport: 'node' });
    const rr = r;
    await rr.pair.open();
    const ac = new AbortController();
    let n = 0;
    const consumer = (async () => {
      for await (const rec of rr.pair.events({ signal: ac.signal })) if (rec.type === 'event') n++;
    })();
    await until(() => n > 10, 10_000, 'events');
    ac.abort();
    await consumer;
    const after = n;
    await sleep(100);
    expect(n).toBe(after);
    expect(rr.pair.state.open).toBe(true);
  });
});
