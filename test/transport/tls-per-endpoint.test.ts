/**
 * Each server of a pair may need its own TLS identity check: certificates that name different hosts, or
 * come from different CAs. `primary.tls` / `backup.tls` go on top of the pair's `tls` (docs/security.md).
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { TServerPair } from '../../lib/pair/pair.js';
import { TestPeer } from '../helpers/peer.js';
import { makeCertSet, opensslMissing } from '../helpers/tls-certs.js';
import { until } from '../pair/harness.js';

const missing = opensslMissing();
let certs: ReturnType<typeof makeCerts>;
const makeCerts = () => makeCertSet({ a: { san: 'DNS:tserver-a.test' }, b: { san: 'DNS:tserver-b.test' } });
let primary: TestPeer;
let backup: TestPeer;

beforeAll(async () => {
  if (missing) return;
  certs = makeCerts();
  primary = await TestPeer.start({ tls: { key: certs.a.key, cert: certs.a.cert } });
  backup = await TestPeer.start({ tls: { key: certs.b.key, cert: certs.b.cert }, role: 1 });
});
afterAll(async () => {
  await primary?.close();
  await backup?.close();
});

describe.skipIf(missing)('TLS per endpoint', () => {
  it('each server is verified against its own name: one pair-wide servername could not fit both', async () => {
    const pair = new TServerPair({
      name: 'PerEndpointTls', mode: 'hot', transport: 'node', addp: false,
      tls: { ca: certs.ca },
      primary: { host: '127.0.0.1', port: primary.port, tls: { servername: 'tserver-a.test' } },
      backup: { host: '127.0.0.1', port: backup.port, tls: { servername: 'tserver-b.test' } },
    });
    try {
      await pair.open();
      await until(() => pair.state.endpoints.backup.server === 'open', 10_000, 'backup connected over TLS');
      expect(pair.state.endpoints.primary.server).toBe('open');
      // The pair's CA is inherited by each endpoint.
      expect(pair.options.primary.tls).toMatchObject({ ca: certs.ca, servername: 'tserver-a.test' });
    } finally {
      await pair.close();
    }
  });

  it("a server whose certificate names another host is refused, the other still connects", async () => {
    const pair = new TServerPair({
      name: 'PerEndpointTlsWrong', mode: 'hot', transport: 'node', addp: false, openTimeoutMs: 10_000,
      tls: { ca: certs.ca },
      primary: { host: '127.0.0.1', port: primary.port, tls: { servername: 'tserver-a.test' } },
      backup: { host: '127.0.0.1', port: backup.port, tls: { servername: 'tserver-a.test' } },
    });
    pair.on('error', () => {});
    try {
      await pair.open();
      await until(() => pair.state.endpoints.backup.lastError !== null, 10_000, 'backup refused');
      expect(pair.state.endpoints.backup.server).not.toBe('open');
      expect(String(pair.state.endpoints.backup.lastError?.message)).toMatch(/certificate|altname|TLS/i);
    } finally {
      await pair.close();
    }
  });

  it('per-endpoint secrets are redacted too, and bad per-endpoint options name the endpoint', () => {
    const pair = new TServerPair({
      name: 'PerEndpointTlsRedact', transport: 'node', tls: { ca: certs.ca },
      primary: { host: '127.0.0.1', port: primary.port, tls: { key: certs.a.key, cert: certs.a.cert } },
      backup: { host: '127.0.0.1', port: backup.port },
    });
    expect(inspect(pair.options.primary)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(pair.options)).not.toContain('PRIVATE KEY');
    expect((pair.options.primary.tls as { key?: string }).key).toBe(certs.a.key);
    expect(() => new TServerPair({ name: 'X', transport: 'node', primary: { host: 'h', port: 1, tls: { servername: '' } }, backup: 'h:2' })).toThrow(/primary\.tls\.servername/);
    expect(() => new TServerPair({ name: 'X', transport: 'node', primary: { host: 'h', port: 1, tls: null as never }, backup: 'h:2' })).toThrow(ConfigError);
  });
});
