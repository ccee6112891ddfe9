import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, defaultAddpTimeoutMs, resolvePairOptions } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { NodeTransport, isTransportAvailable, registerTransport, unregisterTransport, type Transport } from '../../lib/transport/index.js';
import { TRANSPORT_DEFAULTS, validateTransportOptions } from '../../lib/transport/transport-options.js';
import type { TransportOptions } from '../../lib/transport/types.js';

const base = { host: 'h', port: 1 };

describe('validateTransportOptions: one validation for both kinds', () => {
  const bad: Array<[string, Partial<TransportOptions> | unknown, RegExp]> = [
    ['empty host', { host: '', port: 1 }, /host/],
    ['port out of range', { host: 'h', port: 70000 }, /port/],
    ['connectTimeoutMs 0', { ...base, connectTimeoutMs: 0 }, /connectTimeoutMs/],
    ['addp.timeoutMs 0', { ...base, addp: { timeoutMs: 0 } }, /addp\.timeoutMs/],
    ['addp null', { ...base, addp: null }, /addp/],
    ['keepAlive.idleMs 0', { ...base, keepAlive: { idleMs: 0, intervalMs: 1, count: 1 } }, /keepAlive\.idleMs/],
    // The node transport used to check idle only.
    ['keepAlive.intervalMs 0', { ...base, keepAlive: { idleMs: 1, intervalMs: 0, count: 1 } }, /keepAlive\.intervalMs/],
    ['keepAlive.count 1.5', { ...base, keepAlive: { idleMs: 1, intervalMs: 1, count: 1.5 } }, /keepAlive\.count/],
    ['userTimeoutMs -1', { ...base, userTimeoutMs: -1 }, /userTimeoutMs/],
    ['noDelay "no"', { ...base, noDelay: 'no' }, /noDelay/],
    ['maxQueuedBytes 0', { ...base, maxQueuedBytes: 0 }, /maxQueuedBytes/],
    ['limits.maxFrameSize -1', { ...base, limits: { maxFrameSize: -1 } }, /./],
  ];
  for (const kind of ['node', 'native'] as const) {
    for (const [what, o, msg] of bad) {
      it(`${kind}: refuses ${what}`, () => {
        expect(() => validateTransportOptions(o as TransportOptions, kind)).toThrow(ConfigError);
        expect(() => validateTransportOptions(o as TransportOptions, kind)).toThrow(msg);
      });
    }
  }

  it('TLS: an object for node, refused by native; anything else refused by node', () => {
    expect(validateTransportOptions({ ...base, tls: {} }, 'node').host).toBe('h');
    expect(() => validateTransportOptions({ ...base, tls: {} }, 'native')).toThrow(/TLS/);
    expect(() => validateTransportOptions({ ...base, tls: null as never }, 'node')).toThrow(/tls/);
  });

  it('fills in the defaults; an explicit value wins', () => {
    const n = validateTransportOptions(base, 'node');
    const v = validateTransportOptions(base, 'native');
    expect(n.addpTimeoutMs).toBe(TRANSPORT_DEFAULTS.addpTimeoutMs.node);
    expect(v.addpTimeoutMs).toBe(TRANSPORT_DEFAULTS.addpTimeoutMs.native);
    expect(validateTransportOptions({ ...base, addp: { timeoutMs: 200 } }, 'node').addpTimeoutMs).toBe(200);
    expect(validateTransportOptions({ ...base, addp: false }, 'node').addpTimeoutMs).toBe(0);
    expect(n.keepAlive).toEqual(TRANSPORT_DEFAULTS.keepAlive);
    expect(validateTransportOptions({ ...base, keepAlive: false }, 'node').keepAlive).toBeNull();
    expect(n).toMatchObject({ connectTimeoutMs: 2000, userTimeoutMs: 3000, noDelay: true, maxQueuedBytes: 32 * 1024 * 1024 });
  });

  it('NodeTransport uses it (keepalive interval/count are checked there too now)', () => {
    expect(() => new NodeTransport({ ...base, keepAlive: { idleMs: 1000, intervalMs: 0, count: 3 } })).toThrow(/keepAlive\.intervalMs/);
    expect(() => new NodeTransport({ ...base, userTimeoutMs: Number.NaN })).toThrow(/userTimeoutMs/);
  });
});

describe('the pair resolves the ADDP default per transport', () => {
  const pair = { name: 'p', primary: 'a:1', backup: 'b:1' };
  afterEach(() => {
    if (!nativeWasAvailable) unregisterTransport('native');
  });
  const nativeWasAvailable = isTransportAvailable('native');

  it("node (and TLS, and 'auto' without the addon): DEFAULTS.addpNode; native: DEFAULTS.addp; remote twice it", () => {
    const node = resolvePairOptions({ ...pair, transport: 'node' }).addp;
    expect(node).toEqual({ timeoutMs: DEFAULTS.addpNode.timeoutMs, remoteTimeoutMs: 2 * DEFAULTS.addpNode.timeoutMs });
    expect(defaultAddpTimeoutMs({ transport: 'auto', tls: {} })).toBe(DEFAULTS.addpNode.timeoutMs);
    expect(defaultAddpTimeoutMs({ transport: () => null as unknown as Transport })).toBe(DEFAULTS.addp.timeoutMs);
    if (!nativeWasAvailable) {
      // 'auto' without the addon is the node transport.
      expect(resolvePairOptions({ ...pair }).addp).toEqual({ timeoutMs: DEFAULTS.addpNode.timeoutMs, remoteTimeoutMs: 2 * DEFAULTS.addpNode.timeoutMs });
      registerTransport('native', (o) => new NodeTransport(o));
    }
    expect(resolvePairOptions({ ...pair, transport: 'native' }).addp).toEqual({ timeoutMs: DEFAULTS.addp.timeoutMs, remoteTimeoutMs: 2 * DEFAULTS.addp.timeoutMs });
    expect(resolvePairOptions({ ...pair }).addp).toEqual({ timeoutMs: DEFAULTS.addp.timeoutMs, remoteTimeoutMs: 2 * DEFAULTS.addp.timeoutMs });
  });

  it('an explicit value wins whatever the transport', () => {
    expect(resolvePairOptions({ ...pair, transport: 'node', addp: { timeoutMs: 500 } }).addp).toEqual({ timeoutMs: 500, remoteTimeoutMs: 1000 });
    expect(resolvePairOptions({ ...pair, transport: 'node', addp: { remoteTimeoutMs: 9000 } as never }).addp).toEqual({ timeoutMs: DEFAULTS.addpNode.timeoutMs, remoteTimeoutMs: 9000 });
    expect(resolvePairOptions({ ...pair, transport: 'node', addp: false }).addp).toBe(false);
  });
});
