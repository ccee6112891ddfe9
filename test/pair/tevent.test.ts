/**
 * Events are lazy (attributes read from their bytes on demand) and must stay valid and correct after the
 * listener returns: the native transport reuses its delivery memory, so an event kept by the application
 * reads from a copy. Checked against the switch's own log, long after the events were delivered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TEvent } from '../../lib/pair/events.js';
import { Attr } from '../../lib/protocol/ids.js';
import { rig, until, type Rig } from './harness.js';
import { transportsUnderTest } from './transports.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

describe.each(transportsUnderTest())('TEvent (%s transport)', (transport) => {
  it('kept after the listener returned: every attribute still reads what the switch sent', async () => {
    r = await rig({ mode: 'hot', rate: 5000 }, { transport });
    const rr = r;
    const kept: TEvent[] = [];
    rr.pair.on('event', (e) => {
      if (kept.length < 500 && e.seq >= 0) kept.push(e);
    });
    await rr.pair.open();
    await until(() => kept.length >= 500, 30_000, '500 events');
    // Many more deliveries after the kept ones: the transport's memory has been reused since.
    const n = rr.seqs.length;
    await until(() => rr.seqs.length > n + 2000, 30_000, '2000 more events');
    const bySeq = new Map(rr.sim.oracle().events.map((o) => [o.seq, o]));
    for (const e of kept) {
      const o = bySeq.get(rr.sim.toSwitchSeq(e.epoch, e.seq))!;
      expect(o, `seq ${e.seq}`).toBeDefined();
      expect(e.get('ThisDN')).toBe(o.thisDN);
      expect(e.get(Attr.ThisDN)).toBe(o.thisDN);
      expect(e.get('ConnID')).toBe(o.connId);
      expect(e.Event).toBe(o.type);
      expect(e.attributes.ThisDN).toBe(o.thisDN);
      expect(e.message.attributes.find((a) => a.id === Attr.EventSequenceNumber)?.value).toBe(BigInt(e.seq));
      expect(e.get('Reason')).toBeUndefined();
    }
  });

  it('get() by a name this protocol does not know is a TypeError', async () => {
    r = await rig({ mode: 'hot', rate: 1000 }, { transport });
    const rr = r;
    let first: TEvent | undefined;
    rr.pair.once('event', (e) => (first = e));
    await rr.pair.open();
    await until(() => first !== undefined, 30_000, 'an event');
    expect(() => first!.get('NoSuchAttribute' as 'ThisDN')).toThrow(TypeError);
  });
});
