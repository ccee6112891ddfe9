/**
 * TLS checks each server's certificate against the host it is configured by (docs/security.md). Before:
 * a server given by IP address was checked against the name `localhost` (Node's fallback when neither
 * `servername` nor `host` is given and the socket was connected by IP), so a CA-signed certificate for
 * `localhost` passed for any IP, and the right certificate — SAN IP:<address> — was refused.
 * Certificates are made at test time (test/helpers/tls-certs.ts), each naming one thing only.
 */
import { createPrivateKey } from 'node:crypto';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePairOptions } from '../../lib/config.js';
import { ConfigError, TransportError } from '../../lib/errors.js';
import { NodeTransport } from '../../lib/transport/node-transport.js';
import type { TransportOptions } from '../../lib/transport/types.js';
import { makeCertSet, opensslMissing, type Issued } from '../helpers/tls-certs.js';

const missing = opensslMissing();

type Certs = ReturnType<typeof makeSet>;
const makeSet = () =>
  makeCertSet({
    ip: { san: 'IP:127.0.0.1' },
    dns: { san: 'DNS:localhost' },
    otherIp: { san: 'IP:10.9.8.7' },
    otherDns: { san: 'DNS:tserver-b.test' },
    // Only a CN, no SAN: Node does not fall back to the CN when the certificate names nothing else.
    localhostCn: { san: '', cn: 'localhost' },
    named: { san: 'DNS:tserver-a.test' },
    client: { san: 'DNS:router.test', usage: 'client' },
  });

interface Server {
  port: number;
  /** Resolves once the server has seen `n` handshakes complete (the client may finish first, in TLS 1.3). */
  handshakes(n: number): Promise<void>;
  /** SNI names the server saw, one per handshake (false: none sent). */
  sni: Array<string | false>;
  close(): Promise<void>;
}

async function server(cert: Issued, extra: tls.TlsOptions = {}): Promise<Server> {
  const sni: Array<string | false> = [];
  const sockets = new Set<tls.TLSSocket>();
  const s = tls.createServer({ key: cert.key, cert: cert.cert, ...extra }, (sock) => {
    sni.push((sock as tls.TLSSocket & { servername: string | false }).servername);
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  s.on('tlsClientError', () => {});
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as AddressInfo).port,
    sni,
    handshakes: async (n) => {
      for (let i = 0; i < 200 && sni.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    },
    close: () => new Promise<void>((r) => {
      for (const x of sockets) x.destroy();
      s.close(() => r());
    }),
  };
}

/** Connect a node transport; resolves to 'ok' or the TransportError connect() rejected with. */
async function attempt(host: string, port: number, tlsOpts: TransportOptions['tls']): Promise<'ok' | TransportError> {
  const t = new NodeTransport({ host, port, addp: false, connectTimeoutMs: 5000, tls: tlsOpts });
  try {
    await t.connect();
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(TransportError);
    return e as TransportError;
  } finally {
    await t.destroy();
  }
}

function expectRefused(r: 'ok' | TransportError, host: string, code: RegExp = /^ERR_TLS_CERT_ALTNAME_INVALID$/): void {
  expect(r, `certificate for ${host} must be refused`).not.toBe('ok');
  const e = r as TransportError;
  expect(e.code).toBe('ERR_SOCKET');
  expect(e.syscallCode).toMatch(code);
  expect(e.message).toContain(`TLS: the certificate of ${host}:`);
  expect(e.message).toContain('was refused');
}

describe.skipIf(missing !== undefined)(`TLS server identity${missing ? ` — SKIPPED: ${missing}` : ''}`, () => {
  let certs: Certs;
  const servers: Server[] = [];
  const start = async (c: Issued, extra?: tls.TlsOptions) => {
    const s = await server(c, extra);
    servers.push(s);
    return s;
  };
  beforeAll(() => {
    certs = makeSet();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it('a server given by IP: the certificate naming that IP is accepted, with no SNI sent', async () => {
    const s = await start(certs.ip);
    expect(await attempt('127.0.0.1', s.port, { ca: certs.ca })).toBe('ok');
    await s.handshakes(1);
    expect(s.sni).toEqual([false]); // RFC 6066: no IP literal as SNI
  });

  it('a server given by IP: a certificate for localhost, another IP or another name is refused', async () => {
    for (const c of [certs.dns, certs.localhostCn, certs.otherIp, certs.otherDns]) {
      const s = await start(c);
      expectRefused(await attempt('127.0.0.1', s.port, { ca: certs.ca }), '127.0.0.1');
    }
  });

  it('a server given by name: the certificate naming it is accepted, and the name is sent as SNI', async () => {
    const s = await start(certs.dns);
    expect(await attempt('localhost', s.port, { ca: certs.ca })).toBe('ok');
    await s.handshakes(1);
    expect(s.sni).toEqual(['localhost']);
  });

  it('a server given by name: a certificate for its IP only, or for another name, is refused', async () => {
    for (const c of [certs.ip, certs.otherDns, certs.otherIp]) {
      const s = await start(c);
      expectRefused(await attempt('localhost', s.port, { ca: certs.ca }), 'localhost');
    }
  });

  it('tls.servername: the certificate is checked against that name instead (and it is the SNI)', async () => {
    const s = await start(certs.named);
    expect(await attempt('127.0.0.1', s.port, { ca: certs.ca, servername: 'tserver-a.test' })).toBe('ok');
    await s.handshakes(1);
    expect(s.sni).toEqual(['tserver-a.test']);
    expectRefused(await attempt('127.0.0.1', s.port, { ca: certs.ca, servername: 'tserver-b.test' }), '127.0.0.1');
    // Without it, the IP is what must match.
    expectRefused(await attempt('127.0.0.1', s.port, { ca: certs.ca }), '127.0.0.1');
  });

  it('tls.checkServerIdentity (a name per server) gets the configured host', async () => {
    const s = await start(certs.named);
    const names: Record<string, string> = { '127.0.0.1': 'tserver-a.test' };
    const seen: string[] = [];
    const checkServerIdentity = (host: string, cert: tls.PeerCertificate) => {
      seen.push(host);
      return tls.checkServerIdentity(names[host] ?? host, cert);
    };
    expect(await attempt('127.0.0.1', s.port, { ca: certs.ca, checkServerIdentity })).toBe('ok');
    expect(seen).toEqual(['127.0.0.1']);
  });

  it('a certificate from an untrusted CA is refused with its OpenSSL code', async () => {
    const s = await start(certs.ip);
    const other = makeCertSet({});
    expectRefused(await attempt('127.0.0.1', s.port, { ca: other.ca }), '127.0.0.1', /SIGNED|VERIFY|UNABLE_TO/);
  });

  it('mutual TLS through the pair options: the redacted key and passphrase still reach the transport', async () => {
    // TLS 1.2: the server's refusal of a missing client certificate then fails the client's handshake
    // (under 1.3 the client finishes first and learns of it only from the alert that follows).
    const s = await start(certs.ip, { requestCert: true, rejectUnauthorized: true, ca: certs.ca, maxVersion: 'TLSv1.2' });
    // The client key encrypted with a passphrase: both are secrets, kept out of the pair's options display.
    const encrypted = createPrivateKey(certs.client.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'hunter2' }) as string;
    const pairOptions = (tlsOpts: object) => ({ name: 'P', primary: { host: '127.0.0.1', port: s.port }, backup: { host: '127.0.0.1', port: s.port + 1 }, tls: tlsOpts });
    const o = resolvePairOptions(pairOptions({ ca: certs.ca, cert: certs.client.cert, key: encrypted, passphrase: 'hunter2' }));
    expect(Object.keys(o.tls!)).not.toContain('key');
    expect(await attempt('127.0.0.1', s.port, o.tls)).toBe('ok');
    await s.handshakes(1); // the server accepted the client certificate
    // Without the client certificate the server refuses the handshake.
    expect(await attempt('127.0.0.1', s.port, { ca: certs.ca })).not.toBe('ok');
    // A wrong passphrase is a configuration error, found when the options are resolved…
    expect(() => resolvePairOptions(pairOptions({ ca: certs.ca, cert: certs.client.cert, key: encrypted, passphrase: 'wrong' }))).toThrow(ConfigError);
    // …and, given to a transport directly, a failed connect (it used to throw from a socket callback).
    const r = await attempt('127.0.0.1', s.port, { ca: certs.ca, cert: certs.client.cert, key: encrypted, passphrase: 'wrong' });
    expect(r).not.toBe('ok');
    expect((r as TransportError).message).toMatch(/^TLS: cannot use the tls options for 127\.0\.0\.1:\d+:/);
    expect((r as TransportError).message).not.toContain('wrong');
  });
});
