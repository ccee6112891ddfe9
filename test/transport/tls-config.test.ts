/**
 * The `tls` option: only `undefined` means plaintext (null, false, '' used to mean it silently), and its
 * secrets (key, passphrase, pfx, session) are out of sight — util.inspect(pair), JSON.stringify(pair.options),
 * Object.keys and spreads — while still reaching the transport (tls-identity.test.ts connects with them).
 */
import { inspect } from 'node:util';
import { createPrivateKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolvePairOptions, type TServerPairOptions } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { NodeTransport, tlsConnectOptions } from '../../lib/transport/node-transport.js';
import { makeCertSet, opensslMissing } from '../helpers/tls-certs.js';

const base: TServerPairOptions = { name: 'P', primary: { host: '127.0.0.1', port: 7001 }, backup: { host: '127.0.0.1', port: 7002 } };
const missing = opensslMissing();

describe('tls option', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['false', false],
    ["''", ''],
    ['true', true],
    ['0', 0],
    ['a string', 'yes'],
    ['an array', []],
  ])('tls: %s is a ConfigError (only undefined means plaintext)', (_name, tls) => {
    expect(() => resolvePairOptions({ ...base, tls } as TServerPairOptions)).toThrow(ConfigError);
    expect(() => resolvePairOptions({ ...base, tls } as TServerPairOptions)).toThrow(/option tls must be an object of tls.connect options/);
    expect(() => new NodeTransport({ host: '127.0.0.1', port: 1, tls: tls as object })).toThrow(ConfigError);
  });

  it('undefined is plaintext, an object is TLS', () => {
    expect(resolvePairOptions(base).tls).toBeUndefined();
    expect(resolvePairOptions({ ...base, tls: undefined }).tls).toBeUndefined();
    expect(resolvePairOptions({ ...base, tls: {} }).tls).toEqual({});
  });

  it.each(['host', 'port', 'socket', 'path'])('tls.%s is refused: each endpoint is connected to its own host and port', (k) => {
    expect(() => resolvePairOptions({ ...base, tls: { [k]: k === 'port' ? 1 : 'x' } })).toThrow(new RegExp(`option tls.${k} is not accepted`));
  });

  it('tls.servername must be a non-empty string; checkServerIdentity a function', () => {
    expect(() => resolvePairOptions({ ...base, tls: { servername: '' } })).toThrow(/option tls.servername must be a non-empty string/);
    expect(() => resolvePairOptions({ ...base, tls: { checkServerIdentity: 'no' as never } })).toThrow(/option tls.checkServerIdentity must be a function/);
  });

  it('a key or certificate that cannot be used is a ConfigError at construction, not a failure per attempt', () => {
    expect(() => resolvePairOptions({ ...base, tls: { cert: 'not a certificate' } })).toThrow(/option tls cannot be used: .*PEM/);
    expect(() => resolvePairOptions({ ...base, tls: { key: 'not a key' } })).toThrow(ConfigError);
  });

  it('tlsConnectOptions: the configured host is verified, a name is the SNI, an IP is never sent as SNI', () => {
    const sock = {} as never;
    expect(tlsConnectOptions({}, '10.1.2.3', sock)).toEqual({ host: '10.1.2.3', socket: sock });
    expect(tlsConnectOptions({}, '::1', sock)).toEqual({ host: '::1', socket: sock });
    expect(tlsConnectOptions({}, 'ts1.example', sock)).toMatchObject({ host: 'ts1.example', servername: 'ts1.example' });
    expect(tlsConnectOptions({ servername: 'alias.example' }, '10.1.2.3', sock)).toMatchObject({ host: '10.1.2.3', servername: 'alias.example' });
  });
});

describe.skipIf(missing !== undefined)(`tls secrets are redacted${missing ? ` — SKIPPED: ${missing}` : ''}`, () => {
  let key: string;
  let cert: string;
  let ca: string;
  const passphrase = 'correct horse battery staple';
  beforeAll(() => {
    const s = makeCertSet({ client: { san: 'DNS:router.test', usage: 'client' } });
    ca = s.ca;
    cert = s.client.cert;
    key = createPrivateKey(s.client.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
  });
  const keyBody = () => key.split('\n')[1]!; // a line of the PEM body

  function expectHidden(text: string): void {
    expect(text).not.toContain(passphrase);
    expect(text).not.toContain(keyBody());
    expect(text).not.toContain('ENCRYPTED PRIVATE KEY');
  }

  it('pair.options and util.inspect(pair): key and passphrase are [redacted], the rest is shown', async () => {
    // TServerPair is imported lazily: it is only needed here.
    const { TServerPair } = await import('../../lib/pair/pair.js');
    const pair = new TServerPair({ ...base, transport: 'node', tls: { ca, cert, key, passphrase, servername: 'ts.example' } });
    try {
      for (const text of [inspect(pair, { depth: Infinity }), inspect(pair.options, { depth: Infinity }), inspect(pair.options.tls), String(inspect(pair))]) {
        expectHidden(text);
      }
      const shown = inspect(pair.options.tls);
      expect(shown).toContain("key: '[redacted]'");
      expect(shown).toContain("passphrase: '[redacted]'");
      expect(shown).toContain("servername: 'ts.example'");
      expect(shown).toContain('BEGIN CERTIFICATE'); // certificates are public
    } finally {
      await pair.close();
    }
  });

  it('JSON.stringify, Object.keys, spreads and Object.entries do not carry them', () => {
    // (pfx is on the same list as key; a session is what resumes a TLS session: secret too.)
    const session = Buffer.from('session-secret');
    const o = resolvePairOptions({ ...base, tls: { ca, cert, key, passphrase, session } });
    const tls = o.tls!;
    const json = JSON.stringify(o);
    expectHidden(json);
    expect(JSON.stringify({ ...tls })).not.toContain('"session"');
    expect(JSON.parse(json).tls).toEqual({ key: '[redacted]', passphrase: '[redacted]', session: '[redacted]', ca, cert });
    expect(Object.keys(tls).sort()).toEqual(['ca', 'cert']);
    expectHidden(JSON.stringify({ ...tls }));
    expectHidden(JSON.stringify(Object.entries(tls)));
    // Still readable by name (what the transport does), and the object cannot be changed.
    expect(tls.key).toBe(key);
    expect(tls.passphrase).toBe(passphrase);
    expect(Object.isFrozen(tls)).toBe(true);
    // The transport's options carry them again.
    const c = tlsConnectOptions(tls, '127.0.0.1', {} as never);
    expect(c.key).toBe(key);
    expect(c.passphrase).toBe(passphrase);
  });

  it('the caller\'s own tls object is not changed', () => {
    const given = { ca, cert, key, passphrase };
    resolvePairOptions({ ...base, tls: given });
    expect(Object.keys(given)).toEqual(['ca', 'cert', 'key', 'passphrase']);
    expect(JSON.stringify(given)).toContain('ENCRYPTED PRIVATE KEY');
  });
});
