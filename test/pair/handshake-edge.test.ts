import { describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import { encodeMessage, int64, MessageType } from '../../lib/protocol/index.js';
import type { MessageFrame } from '../../lib/protocol/types.js';
import { TestPeer, type PeerConnection } from '../helpers/peer.js';
import { transportsUnderTest } from './transports.js';

describe.each(transportsUnderTest())('handshake edge cases (%s transport)', (transport) => {
  it('a connection that dies in the same read that completes the handshake is not taken as open', async () => {
    const primary = await TestPeer.start();
    const backup = await TestPeer.start();
    let first = true;
    const reply = primary.reply.bind(primary);
    // The first registration is answered, and the connection broken, by one write: ServerInfo, the link
    // report, then a frame with a bad kind.
    primary.reply = (c: PeerConnection, f: MessageFrame) => {
      if (!first || f.type !== MessageType.RequestRegisterClient) return reply(c, f);
      first = false;
      c.sendRaw(Buffer.concat([
        encodeMessage(MessageType.EventServerInfo, { ServerRole: 0, SessionID: int64(1n), EventSequenceNumber: int64(0n), ReferenceID: f.attributes.find((a) => a.id === 2)!.value as number }),
        encodeMessage(MessageType.EventLinkConnected, { TimeinSecs: 1_700_000_000 }),
        Buffer.from([0, 0, 0, 2, 1, 9]),
      ]));
    };
    const pair = new TServerPair({
      name: 'Edge', mode: 'warm', transport,
      primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port },
    });
    try {
      await pair.open();
      // Usable means a live connection: a request is answered.
      const r = await pair.request('RequestQueryServer', {}, { timeoutMs: 3000 });
      expect(r.type).toBe(MessageType.EventAddressInfo);
      expect(first).toBe(false);
      expect(primary.connections.length + backup.connections.length).toBeGreaterThanOrEqual(2);
    } finally {
      await pair.close();
      await primary.close();
      await backup.close();
    }
  });
});
