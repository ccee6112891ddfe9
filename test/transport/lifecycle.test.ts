/**
 * The lifecycle rules lib/transport/transport-base.ts owns for every transport, where the conformance suite
 * does not already pin them: one connect attempt per transport, close()/destroy() called together or from
 * inside `connect`, destroy() cutting an orderly close short, and the grace deadline of an orderly close the
 * peer never completes. Real sockets on loopback, against each kind.
 */
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { TransportError } from '../../lib/errors.js';
import { MessageType, encodeMessage } from '../../lib/protocol/index.js';
import { CLOSE_GRACE_MS } from '../../lib/transport/transport-base.js';
import type { Transport, TransportOptions } from '../../lib/transport/types.js';
import type { TestPeer } from '../helpers/peer.js';
import { KINDS, Recorder, suiteFor, prepareKinds, sleep, within } from './harness.js';

await prepareKinds();

const register = () => encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'lifecycle', ReferenceID: 1 });

for (const k of KINDS) {
  const reason = k.skipReason();
  describe.skipIf(reason !== undefined)(`transport lifecycle: ${k.kind}${reason ? ` — SKIPPED: ${reason}` : ''}`, () => {
    // Every transport of every case: after destroy(), exactly one close, nothing after it.
    const { cleanups, transport, peer } = suiteFor(k);

    /** A peer that reads everything and never closes its side: our FIN is never answered. */
    async function halfOpenPeer(): Promise<{ port: number; gotFin: Promise<void> }> {
      const sockets: net.Socket[] = [];
      let finSeen!: () => void;
      const gotFin = new Promise<void>((r) => (finSeen = r));
      const server = net.createServer({ allowHalfOpen: true }, (s) => {
        s.on('error', () => {});
        s.on('end', () => finSeen());
        s.resume();
        sockets.push(s);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }));
      return { port: (server.address() as net.AddressInfo).port, gotFin };
    }

    it('one connect attempt: connect() again returns the same promise; after close it rejects ERR_TRANSPORT_CLOSED', async () => {
      const p = await peer();
      const { t, rec } = transport({ host: '127.0.0.1', port: p.port });
      const first = t.connect();
      expect(t.connect()).toBe(first);
      await first;
      expect(t.connect()).toBe(first);
      expect(rec.connects).toHaveLength(1);
      await t.close();
      await expect(t.connect()).rejects.toMatchObject({ code: 'ERR_TRANSPORT_CLOSED' });
    });

    it('never connected: close() is one local close without outbound; send() says not connected, then closed', async () => {
      const { t, rec } = transport({ host: '127.0.0.1', port: 1 });
      expect(() => t.send(register())).toThrow(/not connected/);
      await t.close();
      expect(rec.closes.map((c) => c.reason)).toEqual(['local']);
      expect(rec.closes[0]!.outbound).toBeUndefined();
      expect(rec.closes[0]!.error).toBeUndefined();
      expect(rec.closes[0]!.timestamps.closedAt).toBeTypeOf('number');
      expect(() => t.send(register())).toThrow(TransportError);
      expect(() => t.send(register())).toThrow(/closed/);
      expect(() => (t as unknown as { send(x: unknown): void }).send('not bytes')).toThrow(TransportError);
    });

    it('send() of something that is not bytes on an open transport is a TypeError, and the connection stays', async () => {
      const p = await peer();
      const { t } = transport({ host: '127.0.0.1', port: p.port });
      await t.connect();
      expect(() => (t as unknown as { send(x: unknown): void }).send('not bytes')).toThrow(TypeError);
      expect(t.connected).toBe(true);
      await t.close();
    });

    it('close(), close() and destroy() together: one local close, all three resolve after it', async () => {
      const p = await peer();
      const { t, rec } = transport({ host: '127.0.0.1', port: p.port });
      await t.connect();
      const order: string[] = [];
      t.on('close', () => order.push('close'));
      const all = [t.close(), t.close(), t.destroy()].map((d, i) => d.then(() => order.push(`resolved ${i}`)));
      await within(Promise.all(all), 5000, 'the three ends');
      expect(order[0]).toBe('close');
      expect(order).toHaveLength(4);
      expect(rec.closes.map((c) => c.reason)).toEqual(['local']);
    });

    it('close() from inside the connect listener: connect() still resolves, one local close, nothing after it', async () => {
      const p = await peer();
      const { t, rec } = transport({ host: '127.0.0.1', port: p.port, addp: { timeoutMs: 100 } });
      let closing: Promise<void> | undefined;
      t.once('connect', () => {
        closing = t.close();
      });
      await t.connect();
      await within(closing!, 5000, 'close from the connect listener');
      // What the open armed (ADDP, here polling every 50 ms) went with the close: nothing after it.
      await sleep(250);
      expect(rec.closes.map((c) => c.reason)).toEqual(['local']);
      expect(rec.connects).toHaveLength(1);
    });

    it('destroy() during an orderly close the peer does not answer: ends it at once, one local close', async () => {
      const hp = await halfOpenPeer();
      const { t, rec } = transport({ host: '127.0.0.1', port: hp.port });
      await t.connect();
      t.send(register());
      const started = Date.now();
      const orderly = t.close();
      await within(hp.gotFin, 5000, 'our FIN');
      expect(rec.closes).toHaveLength(0);
      expect(t.connected).toBe(false);
      await expect(t.connect()).rejects.toMatchObject({ code: 'ERR_TRANSPORT_CLOSED' });
      await within(Promise.all([t.destroy(), orderly]), 5000, 'destroy during close');
      expect(Date.now() - started).toBeLessThan(CLOSE_GRACE_MS);
      expect(rec.closes.map((c) => c.reason)).toEqual(['local']);
      expect(rec.closes[0]!.error).toBeUndefined();
    });

    it(`an orderly close the peer never completes is aborted after the grace (${CLOSE_GRACE_MS} ms): one local close`, async () => {
      const hp = await halfOpenPeer();
      const { t, rec } = transport({ host: '127.0.0.1', port: hp.port });
      await t.connect();
      const started = Date.now();
      const orderly = t.close();
      await within(hp.gotFin, 5000, 'our FIN');
      await within(orderly, CLOSE_GRACE_MS + 8000, 'the grace deadline');
      // Not before the grace (less a little for the clocks' granularity).
      expect(Date.now() - started).toBeGreaterThanOrEqual(CLOSE_GRACE_MS - 50);
      expect(rec.closes.map((c) => c.reason)).toEqual(['local']);
      expect(rec.closes[0]!.error).toBeUndefined();
    }, 20_000);
  });
}
