import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, TransportError } from '../../lib/errors.js';
import { MessageType, encodeMessage } from '../../lib/protocol/index.js';
import {
  HoldWindow, NodeTransport, createTransport, isTransportAvailable, registerTransport, resolveTransportKind, unregisterTransport,
  type Transport,
} from '../../lib/transport/index.js';
import { TestPeer } from '../helpers/peer.js';
import { Recorder } from './harness.js';

describe('createTransport / registry', () => {
  afterEach(() => unregisterTransport('native'));

  it('node is always available; native only once registered', () => {
    expect(createTransport({ host: '127.0.0.1', port: 1 }, 'node')).toBeInstanceOf(NodeTransport);
    expect(isTransportAvailable('native')).toBe(false);
    expect(() => createTransport({ host: '127.0.0.1', port: 1 }, 'native')).toThrow(ConfigError);
    expect(resolveTransportKind({}, 'auto')).toBe('node');
  });

  it('auto picks a registered native factory unless TLS is asked for', () => {
    const made: string[] = [];
    registerTransport('native', (o) => {
      made.push(o.host);
      return new NodeTransport(o) as Transport;
    });
    createTransport({ host: 'a', port: 1 });
    expect(made).toEqual(['a']);
    expect(createTransport({ host: 'b', port: 1, tls: {} })).toBeInstanceOf(NodeTransport);
    expect(made).toEqual(['a']);
    expect(() => createTransport({ host: 'c', port: 1, tls: {} }, 'native')).toThrow(/TLS/);
    expect(() => createTransport({ host: 'c', port: 1 }, 'bogus' as 'node')).toThrow(ConfigError);
  });

  it('rejects bad options with ConfigError', () => {
    expect(() => new NodeTransport({ host: '', port: 1 })).toThrow(ConfigError);
    expect(() => new NodeTransport({ host: 'h', port: 70000 })).toThrow(/port/);
    expect(() => new NodeTransport({ host: 'h', port: 1, addp: { timeoutMs: 0 } })).toThrow(/addp/);
    expect(() => new NodeTransport({ host: 'h', port: 1, limits: { maxFrameSize: -1 } })).toThrow(ConfigError);
    expect(() => new HoldWindow({ maxFrames: 0, maxBytes: 10 })).toThrow(ConfigError);
  });
});

describe('node transport specifics', () => {
  it('a partial frame larger than maxQueuedBytes closes with queue-overflow', async () => {
    const p = await TestPeer.start();
    try {
      const conn = p.nextConnection();
      const t = new NodeTransport({ host: '127.0.0.1', port: p.port, addp: false, maxQueuedBytes: 4096 });
      const rec = new Recorder(t);
      await t.connect();
      const pc = await conn;
      const big = encodeMessage(MessageType.EventUserEvent, { 999: new Uint8Array(64 * 1024) });
      pc.sendRaw(big.subarray(0, 32 * 1024)); // never completed
      const info = await rec.closed;
      expect(info.reason).toBe('queue-overflow');
      expect((info.error as TransportError).code).toBe('ERR_QUEUE_OVERFLOW');
    } finally {
      await p.close();
    }
  });
});
