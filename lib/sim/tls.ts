/**
 * TLS material of the simulator's client ports: a throwaway CA and a server certificate it issued, made
 * with node:crypto alone (no `openssl` binary), or the PEMs the caller gives (docs/simulator.md, "TLS").
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';

/** A key and a certificate (PEM). */
export interface SimTlsIdentity {
  key: string;
  cert: string;
}

/** What {@link makeSimCertificates} returns: a CA (its certificate only: its key is thrown away) and a server identity it issued. */
export interface SimCertificates extends SimTlsIdentity {
  /** The CA certificate (PEM): what a client passes as `tls.ca`. */
  ca: string;
}

// ---- DER (just what an X.509 v3 certificate needs) ----------------------------------------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
const set = (...parts: Buffer[]) => tlv(0x31, ...parts);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);
/** A non-negative INTEGER from big-endian bytes. */
const uint = (b: Buffer) => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v & 0x7f));
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}
/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand '::' then 8 groups of 16 bits.
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

/** subjectAltName: IP addresses as iPAddress, anything else as dNSName. */
function altNames(hosts: readonly string[]): Buffer {
  return seq(...hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii')))));
}

const keyId = (pub: KeyObject): Buffer => createHash('sha1').update(pub.export({ type: 'spki', format: 'der' })).digest();

function certificate(opts: {
  subject: string;
  issuer: string;
  subjectKey: KeyObject;
  issuerKey: KeyObject;
  issuerKeyId: Buffer;
  ca: boolean;
  hosts?: readonly string[];
  days: number;
}): string {
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, nonzero, 16 bytes
  const exts = [
    extension('2.5.29.19', true, opts.ca ? seq(bool(true)) : seq()), // basicConstraints
    // keyUsage: CA keyCertSign + cRLSign (bits 5, 6), leaf digitalSignature (bit 0).
    extension('2.5.29.15', true, opts.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0x80]), 7)),
    extension('2.5.29.14', false, octets(keyId(opts.subjectKey))), // subjectKeyIdentifier
    extension('2.5.29.35', false, seq(tlv(0x80, opts.issuerKeyId))), // authorityKeyIdentifier
  ];
  if (!opts.ca) {
    exts.push(extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1')))); // extKeyUsage serverAuth
    exts.push(extension('2.5.29.17', false, altNames(opts.hosts ?? []))); // subjectAltName
  }
  const tbs = seq(
    tlv(0xa0, uint(Buffer.from([2]))), // v3
    uint(serial),
    ECDSA_SHA256,
    name(opts.issuer),
    seq(time(new Date(now - 3600_000)), time(new Date(now + opts.days * 86_400_000))),
    name(opts.subject),
    opts.subjectKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...exts)),
  );
  const der = seq(tbs, ECDSA_SHA256, bits(sign('sha256', tbs, opts.issuerKey)));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

/**
 * A throwaway CA and a server certificate it issued for `hosts` (IP addresses as IP subjectAltNames,
 * names as DNS ones), EC P-256, valid from an hour ago for `days` days. The CA's key is not kept: nothing
 * else can ever be issued under it.
 */
export function makeSimCertificates(hosts: readonly string[], days = 30): SimCertificates {
  if (hosts.length === 0) throw new ConfigError('a certificate needs at least one host');
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caId = keyId(ca.publicKey);
  const caCert = certificate({ subject: 'tserver-ha simulator CA', issuer: 'tserver-ha simulator CA', subjectKey: ca.publicKey, issuerKey: ca.privateKey, issuerKeyId: caId, ca: true, days });
  const cert = certificate({ subject: hosts[0]!, issuer: 'tserver-ha simulator CA', subjectKey: server.publicKey, issuerKey: ca.privateKey, issuerKeyId: caId, ca: false, hosts, days });
  return { ca: caCert, cert, key: server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

const pem = (v: unknown): string | undefined => (typeof v === 'string' ? v : Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : undefined);

/**
 * Check caller-given TLS material (`{ key, cert, ca? }`, PEM strings or Buffers) and return it as strings.
 * Throws {@link ConfigError} when a part is missing, not PEM, or the key does not match the certificate.
 */
export function checkSimTlsIdentity(v: { key?: unknown; cert?: unknown; ca?: unknown }): SimTlsIdentity & { ca?: string } {
  const key = pem(v.key);
  const cert = pem(v.cert);
  const ca = v.ca === undefined ? undefined : pem(v.ca);
  if (key === undefined || cert === undefined) throw new ConfigError('tls must be true or { key, cert, ca? } with PEM strings or Buffers');
  if (v.ca !== undefined && ca === undefined) throw new ConfigError('tls.ca must be a PEM string or Buffer');
  try {
    createPrivateKey(key);
    new X509Certificate(cert);
    if (ca !== undefined) new X509Certificate(ca);
    createSecureContext({ key, cert }); // the key matches the certificate
  } catch (err) {
    throw new ConfigError(`tls: the key or certificate cannot be used: ${(err as Error).message}`);
  }
  return { key, cert, ...(ca !== undefined ? { ca } : {}) };
}
