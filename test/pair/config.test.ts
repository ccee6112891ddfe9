import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { DEFAULTS, defaultAddpTimeoutMs, resolvePairOptions, type TServerPairOptions } from '../../lib/config.js';
import { TServerPair } from '../../lib/pair/pair.js';

const base: TServerPairOptions = { name: 'P', primary: { host: '127.0.0.1', port: 7001 }, backup: { host: '127.0.0.1', port: 7002 } };

describe('pair options', () => {
  it('fills every default', () => {
    const o = resolvePairOptions(base);
    expect(o.mode).toBe('hot');
    // The default follows the transport `auto` picks here: native (500 ms) with the addon, node (3000 ms) without.
    const addp = defaultAddpTimeoutMs(base);
    expect([DEFAULTS.addp.timeoutMs, DEFAULTS.addpNode.timeoutMs]).toContain(addp);
    expect(o.addp).toEqual({ timeoutMs: addp, remoteTimeoutMs: addp * 2 });
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
    ['a misspelt key', { modee: 'warm' }, /unknown option modee \(did you mean mode\?\)/],
    ['a misspelt key in another case', { OpenTimeoutMs: 5 }, /unknown option OpenTimeoutMs \(did you mean openTimeoutMs\?\)/],
    ['a misspelt nested key', { retry: { minDelay: 5 } }, /unknown option retry.minDelay \(did you mean retry.minDelayMs\?\)/],
    ['a misspelt addp key', { addp: { timeout: 500 } }, /unknown option addp.timeout \(did you mean addp.timeoutMs\?\)/],
    ['an unknown key', { frobnicate: true }, /unknown option frobnicate; known: name, primary/],
    ['a logger without methods', { logger: { info() {} } }, /option logger.debug must be a function/],
    ['a logger that is a string', { logger: 'pino' }, /option logger must be an object/],
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

  it('accepts a transport factory, a pino-shaped logger and console as a logger', () => {
    const factory = () => { throw new Error('not called'); };
    expect(resolvePairOptions({ ...base, transport: factory }).transport).toBe(factory);
    const pino = { debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return this; } };
    expect(resolvePairOptions({ ...base, logger: pino }).logger).toBe(pino);
    expect(resolvePairOptions({ ...base, logger: console }).logger).toBe(console);
    expect(resolvePairOptions(base).logger).toBeUndefined();
  });

  it("refuses transport 'native' without the addon in the constructor, with the loader's reason", () => {
    // The loader decides once per process: ask a fresh one with the addon turned off.
    const code = `
      const { TServerPair } = await import(${JSON.stringify(new URL('../../dist/lib/index.js', import.meta.url).href)});
      try {
        new TServerPair({ name: 'P', primary: { host: '127.0.0.1', port: 7001 }, backup: { host: '127.0.0.1', port: 7002 }, transport: 'native' });
        console.log('constructed');
      } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, TSERVER_HA_NATIVE: 'off' }, encoding: 'utf8' });
    const e = JSON.parse(out) as { name: string; code: string; message: string };
    expect(e.name).toBe('ConfigError');
    expect(e.code).toBe('ERR_INVALID_CONFIG');
    expect(e.message).toMatch(/option transport is 'native' but the native addon is not loaded: TSERVER_HA_NATIVE=off/);
  });

  it('accepts addp: false and breaker: false', () => {
    const o = resolvePairOptions({ ...base, addp: false, breaker: false, keepAlive: false });
    expect(o.addp).toBe(false);
    expect(o.breaker).toBe(false);
    expect(o.keepAlive).toBe(false);
  });
});
