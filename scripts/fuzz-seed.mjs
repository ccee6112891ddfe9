#!/usr/bin/env node
// Regenerates the committed seed corpus of the codec fuzzer, test/fuzz-corpus/ (npm run fuzz:seed):
//   v-*  every golden vector (test/vectors/vectors.json) with a header selecting its limits;
//   s-*  realistic multi-frame streams (a call's event sequence with ADDP between, a registration burst,
//        a stream cut inside a frame, a good stream ending in a bad frame, ...), each under a few split
//        selectors and limit sets.
//   r-*  regression inputs (crash/mismatch inputs found by fuzzing), copied from native/fuzz/regressions/.
// File format: native/fuzz/fuzz_codec.cc (4 header bytes + stream). Needs dist/ (npm run build).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeAddp, encodeMessage, int32, int64, float64 } from '../dist/lib/protocol/index.js';
import { fuzzHeader } from './fuzz-input.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'test', 'fuzz-corpus');
const regressions = join(root, 'native', 'fuzz', 'regressions');

const files = new Map();
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
const add = (name, header, stream) => {
  if (files.has(name)) throw new Error(`duplicate seed name ${name}`);
  files.set(name, Buffer.concat([header, stream]));
};

// ---- golden vectors -----------------------------------------------------------------------------------
const vectors = JSON.parse(readFileSync(join(root, 'test', 'vectors', 'vectors.json'), 'utf8'));
vectors.forEach((v, i) => add(`v-${String(i).padStart(3, '0')}-${slug(v.name)}`, fuzzHeader(v.limits, 0x80), Buffer.from(v.hex, 'hex')));

// ---- realistic streams --------------------------------------------------------------------------------
let seq = 1000n;
const ev = (type, attrs) => encodeMessage(type, { ...attrs, EventSequenceNumber: int64(seq++), TimeinSecs: 1700000000, TimeinuSecs: 250000 });
const userData = { segment: 'gold', attempts: int32(3), score: float64(0.75), lang: 'fr-CA', nested: { vip: int32(1), tag: 'ünïcødé €' } };

const handshake = Buffer.concat([
  ev(93, { ServerRole: 0, ServerVersion: 'tserver-sim 1.0', SessionID: int64(1234567890123n), ServerStartTime: 1700000000, ReferenceID: 1, Extensions: { 'addp-timeout': int32(1000) } }),
  ev(53, { ThisDN: '7001', ReferenceID: 2 }),
  ev(53, { ThisDN: '7002', ReferenceID: 3 }),
  encodeAddp(1), encodeAddp(1, true),
]);
const call = Buffer.concat([
  ev(71, { ThisDN: '7001', ConnID: int64(72623859790382856n), ANI: '+15551234567', DNIS: '8005550100', CallType: 2, UserData: userData }),
  ev(138, { ReferenceID: 9 }),
  encodeAddp(2),
  ev(72, { ThisDN: '7001', ConnID: int64(72623859790382856n), OtherDN: '5001' }),
  ev(60, { ThisDN: '5001', ConnID: int64(72623859790382856n), ANI: '+15551234567', UserData: userData }),
  encodeAddp(2, true),
  ev(64, { ThisDN: '5001', ConnID: int64(72623859790382856n) }),
  ev(85, { ThisDN: '5001', ConnID: int64(72623859790382856n), UserData: { ...userData, disposition: 'sale', blob: new Uint8Array([0, 0xff, 0x80, 0xc0]) } }),
  ev(65, { ThisDN: '5001', ConnID: int64(72623859790382856n), CallState: 0 }),
]);
const errors = Buffer.concat([
  ev(52, { ReferenceID: 77, ErrorCode: 56, ErrorMessage: 'client not registered' }),
  ev(96, { UserData: { a: null, b: [], c: { d: { e: { f: 'deep' } } } } }),
  encodeMessage(52, [{ id: 148, type: 1, value: -7 }, { id: 2, type: 6, value: 3n }]),
]);
const burst = Buffer.concat(Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? encodeAddp(i, i % 2 === 0) : ev(53, { ThisDN: String(7000 + i), ReferenceID: i }))));
const bigUserData = ev(71, { ThisDN: '7001', UserData: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`key${i}`, i % 3 === 0 ? int32(i) : `value-${i}-é`])) });

/** A message whose attribute 51 nests lists `depth` deep (depth 1 = one list), built byte by byte (the
 * encoder refuses to write deeper than 255). */
const nestedMsg = (depth) => {
  let v = Buffer.from('030000', 'hex');
  for (let d = 1; d < depth; d++) v = Buffer.concat([Buffer.from('030001' + '00016b', 'hex'), v]);
  const body = Buffer.concat([Buffer.from('0101' + '00000055' + '0001' + '0033', 'hex'), v]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
};

const streams = {
  handshake, call, errors, burst, 'big-userdata': bigUserData,
  'handshake-call': Buffer.concat([handshake, call]),
  'call-cut-mid-frame': call.subarray(0, Math.floor(call.length * 0.6)),
  'call-cut-in-prefix': Buffer.concat([call, encodeAddp(3).subarray(0, 2)]),
  'call-then-bad-version': Buffer.concat([call, Buffer.from('0000000607020000000a', 'hex')]),
  'call-then-oversize-prefix': Buffer.concat([call, Buffer.from('ffffffff0101', 'hex')]),
  'call-then-bad-utf8': (() => {
    const m = encodeMessage(60, { ThisDN: 'x' });
    m[m.length - 1] = 0xc0;
    return Buffer.concat([call, m]);
  })(),
  'call-then-trailing': (() => {
    const m = encodeMessage(60, { ThisDN: '5001' });
    const t = Buffer.concat([m, Buffer.from([0])]);
    t.writeUInt32BE(m.length - 4 + 1, 0);
    return Buffer.concat([call, t]);
  })(),
};
const limitSets = [
  ['default', undefined],
  ['small', { maxDepth: 2, maxAttributes: 4, maxFrameSize: 128 }],
  ['depth1', { maxDepth: 1 }],
];
// The deepest nesting the codecs accept, and one level more, at maxDepth 255 (recursion depth bound).
for (const sel of [0x00, 0x80]) {
  add(`s-nesting-255-cap-${sel.toString(16)}`, fuzzHeader({ maxDepth: 255 }, sel), Buffer.concat([nestedMsg(255), encodeAddp(5)]));
  add(`s-nesting-256-over-cap-${sel.toString(16)}`, fuzzHeader({ maxDepth: 255 }, sel), Buffer.concat([encodeAddp(5), nestedMsg(256)]));
}
for (const [name, bytes] of Object.entries(streams)) {
  for (const [ln, limits] of limitSets) {
    for (const sel of [0x00, 0x55, 0xc3]) add(`s-${name}-${ln}-${sel.toString(16).padStart(2, '0')}`, fuzzHeader(limits, sel), bytes);
  }
}

// ---- regressions --------------------------------------------------------------------------------------
if (existsSync(regressions)) {
  for (const f of readdirSync(regressions).sort()) add(`r-${f}`, new Uint8Array(0), readFileSync(join(regressions, f)));
}

// ---- write ---------------------------------------------------------------------------------------------
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
let bytes = 0;
for (const [name, data] of files) {
  writeFileSync(join(outDir, name), data);
  bytes += data.length;
}
if (files.size > 300 || bytes > 1 << 20) throw new Error(`seed corpus too large: ${files.size} files, ${bytes} bytes`);
console.log(`wrote ${files.size} seed inputs (${bytes} bytes) to test/fuzz-corpus/`);
