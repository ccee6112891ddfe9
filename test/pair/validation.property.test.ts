/**
 * Validation everywhere, as a property: for every public entry point, arguments of the wrong type or range
 * (generated, nested options included) get a typed error naming them — and nothing is sent, no timer is
 * left armed, no memory is kept (10⁵ calls). Real sockets: a connected pair against two test peers that
 * count every frame they receive.
 */
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TServerHaError } from '../../lib/errors.js';
import { show } from '../../lib/config.js';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import { TestPeer } from '../helpers/peer.js';
import { until } from './harness.js';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Values of every JS type, for fields to be given the wrong one. */
const anyValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.double({ noDefaultInfinity: false }),
  fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, 0.5, 2 ** 31, 2 ** 53),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  fc.bigInt({ min: -10n, max: 10n }),
  fc.constant(() => 1),
);

const intIn = (min: number, max: number) => (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const numIn = (min: number, max: number) => (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const ms = intIn(1, 3_600_000);

/** Every option path and what a valid value is; anything else must be refused by the constructor. */
const OPTION_FIELDS: [string, (v: unknown) => boolean][] = [
  ['name', (v) => typeof v === 'string' && v.length > 0],
  ['mode', (v) => v === 'hot' || v === 'warm'],
  ['applicationName', (v) => typeof v === 'string' && v.length > 0],
  ['dns', (v) => Array.isArray(v) && v.every((d) => typeof d === 'string' && d.length > 0)],
  ['registerMode', (v) => v === 'share' || v === 'private' || v === 'monitor'],
  ['addp.timeoutMs', intIn(10, 3_600_000)],
  ['addp.remoteTimeoutMs', intIn(10, 3_600_000)],
  ['connectTimeoutMs', ms], ['handshakeTimeoutMs', ms], ['requestTimeoutMs', ms], ['openTimeoutMs', ms], ['warmBackupWaitMs', ms],
  ['retry.minDelayMs', intIn(1, 1000)], ['retry.maxDelayMs', intIn(50, 3_600_000)], ['retry.factor', numIn(1, 10)],
  ['retry.fastPhaseMs', intIn(0, 3_600_000)], ['retry.probeMs', intIn(0, 60_000)], ['retry.probeIntervalMs', intIn(1, 60_000)],
  ['breaker.errorThresholdPercentage', numIn(1, 100)], ['breaker.volumeThreshold', intIn(1, 1_000_000)],
  ['breaker.resetTimeoutMs', ms], ['breaker.rollingWindowMs', intIn(100, 3_600_000)],
  ['window.maxFrames', intIn(1, 100_000_000)], ['window.maxBytes', intIn(1024, 2 ** 40)],
  ['keepAlive.idleMs', ms], ['keepAlive.intervalMs', ms], ['keepAlive.count', intIn(1, 127)],
  ['limits.maxFrameSize', intIn(1, 2 ** 32 - 1)], ['limits.maxDepth', intIn(1, 2 ** 32 - 1)], ['limits.maxAttributes', intIn(1, 2 ** 32 - 1)],
  ['switchOnLinkDown', (v) => typeof v === 'boolean'],
  ['splitBrainGraceMs', intIn(0, 3_600_000)],
  ['maxPendingRequests', intIn(1, 10_000_000)],
  ['userTimeoutMs', intIn(0, 3_600_000)],
  ['transport', (v) => v === 'auto' || v === 'node' || v === 'native' || typeof v === 'function'],
  ['primary', (v) => typeof v === 'string' && /^(?:\[[^\]\s]+\]|[^:\s]+):(\d{1,5})$/.test(v) && intIn(1, 65535)(Number(/:(\d+)$/.exec(v)![1]))],
  ['primary.port', intIn(1, 65535)],
  ['backup.host', (v) => typeof v === 'string' && v.length > 0 && !/\s/.test(v)],
];

function withField(base: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const out = structuredClone({ ...base, logger: undefined });
  const keys = path.split('.');
  let o = out as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]!] = value;
  return out;
}

const typed = (err: unknown) => err instanceof TServerHaError || err instanceof TypeError || err instanceof RangeError;

let primary: TestPeer;
let backup: TestPeer;
let pair: TServerPair;
const received = () => [...primary.connections, ...backup.connections].reduce((n, c) => n + c.received.length, 0);
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

beforeAll(async () => {
  primary = await TestPeer.start();
  backup = await TestPeer.start({ role: 1 });
  pair = new TServerPair({ name: 'Validation', primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port }, transport: 'node', addp: false, dns: ['7000'] });
  await pair.open();
  await until(() => pair.state.endpoints.backup.server === 'open', 10_000, 'backup connected');
});
afterAll(async () => {
  await pair?.close();
  await primary?.close();
  await backup?.close();
});

describe('validation everywhere', () => {
  it('the constructor refuses a wrong type or range in any option, nested ones included, with a typed error naming it', () => {
    const base = { name: 'V', primary: { host: '127.0.0.1', port: 1 }, backup: { host: '127.0.0.1', port: 2 }, transport: 'node' };
    fc.assert(
      fc.property(fc.constantFrom(...OPTION_FIELDS), anyValue, ([path, valid], value) => {
        fc.pre(value !== undefined && !valid(value));
        const before = timers();
        let err: unknown;
        try {
          new TServerPair(withField(base, path, value) as unknown as TServerPairOptions);
        } catch (e) {
          err = e;
        }
        expect(typed(err), `${path} = ${show(value)}: ${String(err)}`).toBe(true);
        expect((err as Error).message, `${path}: the message names the option`).toContain(path.split('.')[0]!);
        expect(timers()).toBe(before);
      }),
      { numRuns: 3000, seed: 7 },
    );
  });

  it('host:port strings are endpoints; malformed ones are refused', () => {
    const p = new TServerPair({ name: 'V', primary: '127.0.0.1:7000', backup: '[::1]:7001', transport: 'node' });
    expect(p.options.primary).toEqual({ host: '127.0.0.1', port: 7000 });
    expect(p.options.backup).toEqual({ host: '::1', port: 7001 });
    for (const bad of ['host', 'host:', ':7000', 'h:0', 'h:70000', 'h:7000:1', '[::1]', 'a b:1']) {
      expect(() => new TServerPair({ name: 'V', primary: bad, backup: 'h:1', transport: 'node' }), bad).toThrow(TServerHaError);
    }
  });

  it('every method refuses wrong arguments before anything is sent or armed', async () => {
    const calls: [string, fc.Arbitrary<() => unknown>][] = [
      ['request(name)', anyValue.filter((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff).map((v) => () => pair.request(v as never, {}))],
      ['request(attributes)', anyValue.filter((v) => typeof v !== 'object' || v === null || (!Array.isArray(v) && Object.keys(v).length > 0)).map((v) => () => pair.request('RequestQueryServer', v as never))],
      ['request(options)', anyValue.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length > 0)).map((v) => () => pair.request('RequestQueryServer', {}, v as never))],
      ['request({ timeoutMs })', anyValue.filter((v) => !intIn(1, 0x7fffffff)(v)).map((v) => () => pair.request('RequestQueryServer', {}, { timeoutMs: v as number }))],
      ['request({ signal })', anyValue.map((v) => () => pair.request('RequestQueryServer', {}, { signal: v as unknown as AbortSignal }))],
      ['request({ idempotent, repeat })', anyValue.filter((v) => typeof v !== 'boolean').map((v) => () => pair.request('RequestQueryServer', {}, { repeat: v as unknown as boolean }))],
      ['registerAddress(dn)', anyValue.filter((v) => typeof v !== 'string' || v.length === 0).map((v) => () => pair.registerAddress(v as string))],
      ['unregisterAddress(dn)', anyValue.filter((v) => typeof v !== 'string' || v.length === 0).map((v) => () => pair.unregisterAddress(v as string))],
      ['registerAddress({ timeoutMs })', anyValue.filter((v) => !intIn(1, 0x7fffffff)(v)).map((v) => () => pair.registerAddress('7001', { timeoutMs: v as number }))],
      ['events(options)', anyValue.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length > 0)).map((v) => () => pair.events(v as never))],
      ['events({ maxBuffered })', anyValue.filter((v) => !intIn(1, Number.MAX_SAFE_INTEGER)(v)).map((v) => () => pair.events({ maxBuffered: v as number }))],
      ['events({ signal })', anyValue.map((v) => () => pair.events({ signal: v as unknown as AbortSignal }))],
      ['health({ graceMs })', anyValue.filter((v) => !numIn(0, Number.MAX_VALUE)(v)).map((v) => () => pair.health({ graceMs: v as number }))],
    ];
    for (const [what, arb] of calls) {
      await fc.assert(
        fc.asyncProperty(arb, async (call) => {
          const sent = received();
          const before = timers();
          let err: unknown;
          try {
            await call();
          } catch (e) {
            err = e;
          }
          expect(typed(err), `${what}: ${String(err)}`).toBe(true);
          expect(received(), `${what}: nothing sent`).toBe(sent);
          expect(timers(), `${what}: no timer left`).toBe(before);
        }),
        { numRuns: 200, seed: 11 },
      );
    }
    // The pair is unharmed: a valid request still works.
    expect((await pair.request('RequestQueryServer', {})).outcome).toBe('answered');
  });

  it('10⁵ refused calls keep no memory', async () => {
    const wrong: (() => unknown)[] = [
      () => pair.request('RequestQueryServer', {}, { signal: 'x' as never }),
      () => pair.request('RequestQueryServer', {}, { timeoutMs: -1 }),
      () => pair.registerAddress('7001', { timeoutMs: NaN }),
      () => pair.events({ maxBuffered: -5 }),
    ];
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) {
        try {
          await wrong[i % wrong.length]!();
        } catch {
          // expected
        }
      }
    };
    await run(10_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    await run(100_000);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown, `heap grew by ${grown} bytes over 10⁵ refused calls`).toBeLessThan(2 * 1024 * 1024);
    expect(pair.state.queuedRequests).toBe(0);
  }, 120_000);
});
