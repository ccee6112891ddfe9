import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { DEFAULTS, resolvePairOptions, type TServerPairOptions } from '../../lib/config.js';
import { TServerPair } from '../../lib/pair/pair.js';

const base: TServerPairOptions = { name: 'P', primary: { host: '127.0.0.1', port: 7001 }, backup: { host: '127.0.0.1', port: 7002 } };

describe('pair options', () => {
  it('fills every default', () => {
    const o = resolvePairOptions(base);
    expect(o.mode).toBe('hot');
    expect(o.addp).toEqual({ timeoutMs: DEFAULTS.addp.timeoutMs, remoteTimeoutMs: DEFAULTS.addp.timeoutMs * 2 });
    expect(o.retry).toEqual(DEFAULTS.retry);
    expect(o.retry.fastPhaseMs).toBeGreaterThan(0);
    expect(o.breaker).toEqual(DEFAULTS.breaker);
    expect(o.registerMode).toBe(0);
  });

  it.each<[string, Partial<TServerPairOptions> | Record<string, unknown>, RegExp]>([
    ['empty name', { name: '' }, /option name must be a non-empty string/],
    ['bad port', { primary: { host: 'h', port: 70000 } }, /option primary.port must be an integer in \[1, 65535\], got 70000/],
    ['missing backup', { backup: undefined }, /option backup must be an object/],
    ['same endpoints', { backup: { host: '127.0.0.1', port: 7001 } }, /same host:port/],
    ['unknown mode', { mode: 'cold' }, /option mode must be one of 'warm', 'hot', got "cold"/],
    ['negative timeout', { requestTimeoutMs: -5 }, /option requestTimeoutMs must be an integer/],
    ['zero retry delay', { retry: { minDelayMs: 0 } }, /option retry.minDelayMs/],
    ['max below min', { retry: { minDelayMs: 500, maxDelayMs: 100 } }, /maxDelayMs must be >= retry.minDelayMs/],
    ['breaker volume 0', { breaker: { volumeThreshold: 0 } }, /option breaker.volumeThreshold/],
    ['tls with native', { transport: 'native', tls: {} }, /tls needs transport 'node' or 'auto'/],
    ['unknown transport', { transport: 'uv' }, /option transport must be one of/],
    ['bad dn', { dns: ['7001', ''] }, /option dns\[1\] must be a non-empty string/],
    ['addp too small', { addp: { timeoutMs: 1 } }, /option addp.timeoutMs/],
  ])('rejects %s with a ConfigError naming the option', (_n, patch, msg) => {
    const opts = { ...base, ...patch } as TServerPairOptions;
    expect(() => new TServerPair(opts)).toThrow(ConfigError);
    expect(() => new TServerPair(opts)).toThrow(msg);
    try {
      new TServerPair(opts);
    } catch (e) {
      expect((e as ConfigError).code).toBe('ERR_INVALID_CONFIG');
    }
  });

  it('accepts addp: false and breaker: false', () => {
    const o = resolvePairOptions({ ...base, addp: false, breaker: false, keepAlive: false });
    expect(o.addp).toBe(false);
    expect(o.breaker).toBe(false);
    expect(o.keepAlive).toBe(false);
  });
});
