/**
 * Certain-not-sent is not in doubt: requests whose bytes never all left this process when their server was
 * lost (the transport's CloseInfo.outbound: the kernel had not taken them) go to the next primary like any
 * queued request — even those that may never be repeated (`repeat: false`), which a loss used to fail
 * with SwitchoverError. Both transports (each reports how far its outbound stream got).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SwitchoverError } from '../../lib/errors.js';
import { TServerPair } from '../../lib/pair/pair.js';
import { MessageType } from '../../lib/protocol/ids.js';
import { TestPeer } from '../helpers/peer.js';
import { until } from './harness.js';
import { transportsUnderTest } from './transports.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(transportsUnderTest())('certain not sent (%s transport)', (transport) => {
  it('requests still in our buffers when the server is lost go to the next server, answered there; only those that left are in doubt', async () => {
    const primary = await TestPeer.start();
    const backup = await TestPeer.start();
    cleanups.push(() => primary.close(), () => backup.close());
    const pair = new TServerPair({
      name: `NotSent-${transport}`, mode: 'warm', transport, addp: false,
      primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port },
    });
    cleanups.push(() => pair.close());
    pair.on('error', () => {});
    await pair.open();
    const c1 = primary.connections.find((c) => !c.gone)!;
    // The server stops reading: what we write fills its receive buffer, then our send buffer, then stays in
    // our process.
    c1.silence();
    const big = new Uint8Array(256 * 1024);
    const results = Array.from({ length: 64 }, (_, i) =>
      pair.request(0x7100, { ThisDN: `r${i}`, 999: big }, { timeoutMs: 20_000, repeat: false }).then((r) => ({ i, r }), (err: unknown) => ({ i, err })),
    );
    await until(() => pair.state.endpoints.primary.pendingRequests === 64, 10_000, 'all 64 written to the primary');
    // The server process dies (RST): whatever had not reached its kernel never reached it.
    c1.reset();
    const outcomes = await Promise.all(results);
    const got = (i: number) => [...primary.connections, ...backup.connections].flatMap((c) => c.received).filter((f) => f.attributes.some((a) => a.value === `r${i}`));
    let answered = 0;
    let inDoubt = 0;
    for (const o of outcomes) {
      if ('r' in o) {
        // Answered by the backup (the primary read nothing): it went there only because it was certainly not sent.
        expect(o.r.type).toBe(MessageType.EventACK);
        expect(o.r.outcome).toBe('answered');
        answered++;
      } else {
        // Its bytes had left this process: in doubt, and it may not be repeated.
        expect(o.err).toBeInstanceOf(SwitchoverError);
        inDoubt++;
      }
      // Never run twice: the backup got it at most once, the primary read nothing.
      expect(got(o.i).length).toBeLessThanOrEqual(1);
    }
    expect(answered, `answered ${answered}, in doubt ${inDoubt}`).toBeGreaterThan(0);
    expect(answered + inDoubt).toBe(64);
  }, 60_000);
});
