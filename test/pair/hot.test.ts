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
