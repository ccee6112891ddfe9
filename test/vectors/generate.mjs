#!/usr/bin/env node
// Generates the golden vectors of docs/protocol.md: test/vectors/vectors.json (for the TS tests) and
// test/vectors/vectors.txt (the same, flattened for the C++ unit test native/test/codec_test.cc).
//
// Valid vectors are written as canonical FrameJSON (lib/protocol/json.ts) and encoded with the TS
// encoder; invalid ones are written byte by byte. Every expectation here is stated by hand, not computed
// by a decoder; the script then cross-checks the TS decoder against them and refuses to write files if
// it disagrees. Run: `npm run vectors` (builds dist/ first).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attributesFromJSON, decodeFrames, encodeAddp, encodeMessage, frameToJSON, ProtocolError } from '../../dist/lib/protocol/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULTS = { maxFrameSize: 1048576, maxDepth: 8, maxAttributes: 4096 };

// ---- byte builders for hand-made frames -------------------------------------------------------------
const u8 = (v) => Buffer.from([v]);
const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const cat = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p.replace(/\s+/g, ''), 'hex') : p)));
/** A frame: length prefix (default: body length) + body. */
const frame = (body, len = body.length) => cat(u32(len), body);
/** A message body: version 1, kind 1, type, count (default: number of attributes), attribute bytes. */
const msgBody = (type, attrs, count = attrs.length) => cat(u8(1), u8(1), u32(type), u16(count), ...attrs);
const msg = (type, attrs, count) => frame(msgBody(type, attrs, count));
const strAttr = (id, bytes) => cat(u16(id), u8(0), u32(bytes.length), bytes);
const listAttr = (id, pairs) => cat(u16(id), u8(3), u16(pairs.length), ...pairs);
const pair = (key, typeAndData) => cat(u16(Buffer.byteLength(key)), Buffer.from(key), typeAndData);
/** A value nested `depth` lists deep (depth 1 = a list directly under the attribute). */
const nested = (depth) => {
  let v = cat(u8(3), u16(0));
  for (let d = 1; d < depth; d++) v = cat(u8(3), u16(1), pair('k', v));
  return v;
};

const vectors = [];
const valid = (name, frames, limits) => {
  const hex = Buffer.concat(frames.map((f) =>
    f.kind === 'message' ? encodeMessage(f.type, attributesFromJSON(f.attributes)) : encodeAddp(f.token, f.kind === 'addp-reply'),
  )).toString('hex');
  vectors.push({ name, hex, ...(limits ? { limits } : {}), expect: { frames } });
};
const validHex = (name, hex, frames, limits) => vectors.push({ name, hex: Buffer.from(hex).toString('hex'), ...(limits ? { limits } : {}), expect: { frames } });
/** `offset`: where the bad frame starts; `framesBefore`: whole frames before it. */
const invalid = (name, bytes, error, { limits, offset = 0, framesBefore = 0 } = {}) =>
  vectors.push({ name, hex: Buffer.from(bytes).toString('hex'), ...(limits ? { limits } : {}), expect: { error, offset, framesBefore } });

const m = (type, attributes) => ({ kind: 'message', type, attributes });
const a = (id, type, value) => ({ id, type, value });
const p = (key, type, value) => ({ key, type, value });

// ---- valid ------------------------------------------------------------------------------------------
valid('empty message', [m(0, [])]);
valid('empty input holds zero frames', []);
valid('ascii string', [m(52, [a(1, 'string', 'client not registered')])]);
valid('empty string', [m(52, [a(1, 'string', '')])]);
valid('int32 extremes', [m(1, [a(2, 'int32', 0), a(2, 'int32', -1), a(46, 'int32', 2147483647), a(47, 'int32', -2147483648)])]);
valid('int64 extremes', [m(93, [a(108, 'int64', '-9223372036854775808'), a(108, 'int64', '9223372036854775807'), a(108, 'int64', '0')])]);
valid('float64 specials', [m(7, [a(1, 'float64', 1.5), a(2, 'float64', 'NaN'), a(3, 'float64', '-0'), a(4, 'float64', 'Infinity'), a(5, 'float64', '-Infinity'), a(6, 'float64', 5e-324)])]);
valid('binary empty and bytes', [m(7, [a(3, 'binary', ''), a(3, 'binary', '00ff80c0')])]);
valid('binary holding invalid utf-8 is fine', [m(7, [a(3, 'binary', 'c080eda080f4908080')])]);
valid('empty value', [m(7, [a(13, 'empty', null)])]);
valid('empty list', [m(85, [a(51, 'list', [])])]);
valid('list of every type', [m(85, [a(51, 'list', [p('s', 'string', 'v'), p('i', 'int32', -5), p('b', 'binary', '01'), p('e', 'empty', null), p('l', 'int64', '42'), p('f', 'float64', 0.25), p('n', 'list', [])])])]);
valid('nesting exactly maxDepth 8', [m(85, [a(51, 'list', nestJSON(8))])]);
valid('nesting exactly a small maxDepth 2', [m(85, [a(51, 'list', nestJSON(2))])], { maxDepth: 2 });
valid('unicode 2-, 3- and 4-byte characters', [m(71, [a(20, 'string', 'é€😀'), a(19, 'string', '\u{10FFFF}\uFFFF\u0080\u07FF\u0800')])]);
valid('BOM kept at the start of a string', [m(71, [a(20, 'string', '\uFEFF5001'), a(18, 'string', '\uFEFF')])]);
valid('unicode and empty list keys', [m(85, [a(51, 'list', [p('clé', 'string', 'ü'), p('', 'string', ''), p('😀', 'int32', 1)])])]);
valid('duplicate attribute ids, first seq and ref win', [m(60, [a(148, 'int64', '5'), a(2, 'int32', 11), a(148, 'int64', '6'), a(2, 'int32', 12)])]);
valid('duplicate list keys kept in order', [m(85, [a(51, 'list', [p('k', 'string', '1'), p('k', 'string', '2')])])]);
valid('unknown message type and attribute id', [m(0xffffffff, [a(65535, 'string', 'opaque'), a(9999, 'int32', 3)])]);
valid('ADDP poll token 0', [{ kind: 'addp-poll', token: 0 }]);
valid('ADDP reply token 0xffffffff', [{ kind: 'addp-reply', token: 4294967295 }]);
valid('multi-frame stream', [m(138, [a(2, 'int32', 9)]), { kind: 'addp-poll', token: 7 }, m(53, [a(20, 'string', '5001'), a(2, 'int32', 1), a(148, 'int64', '100')]), { kind: 'addp-reply', token: 7 }]);
valid('seq as int32, ref absent', [m(64, [a(148, 'int32', -7)])]);
valid('seq of another type is not a seq; int64 ref is not a ref', [m(64, [a(148, 'string', '12'), a(2, 'int64', '3'), a(148, 'int64', '13')])]);
valid('realistic EventRouteRequest', [m(71, [a(20, 'string', '7001'), a(9, 'int64', '72623859790382856'), a(19, 'string', '+15551234567'), a(18, 'string', '8005550100'), a(54, 'int32', 2), a(51, 'list', [p('segment', 'string', 'gold'), p('attempts', 'int32', 3), p('score', 'float64', 0.5), p('nested', 'list', [p('lang', 'string', 'fr-CA')])]), a(148, 'int64', '42'), a(86, 'int32', 1700000000), a(87, 'int32', 123456)])]);
valid('realistic EventServerInfo', [m(93, [a(62, 'int32', 0), a(61, 'string', 'tserver-sim 1.0'), a(108, 'int64', '1234567890123'), a(147, 'int32', 1700000000), a(148, 'int64', '0'), a(2, 'int32', 1), a(53, 'list', [p('addp-timeout', 'int32', 1000)])])]);
valid('long string', [m(52, [a(1, 'string', 'x'.repeat(1000))])]);
// Body: 1+1+4+2 + (2+1+4+len) = 64 at maxFrameSize 64 -> len 49.
valid('frame of exactly maxFrameSize', [m(52, [a(1, 'string', 'y'.repeat(49))])], { maxFrameSize: 64 });
valid('exactly maxAttributes attributes', [m(1, [a(2, 'int32', 1), a(3, 'empty', null), a(4, 'empty', null)])], { maxAttributes: 3 });
valid('smallest ADDP-sized limit', [{ kind: 'addp-poll', token: 1 }], { maxFrameSize: 6 });
validHex('hand-written ADDP poll bytes', cat('00000006 01 02 0000002a'), [{ kind: 'addp-poll', token: 42 }]);
validHex('hand-written message bytes', cat('00000013 01 01 00000034 0001 0001 00 00000004 61626364'), [m(52, [a(1, 'string', 'abcd')])]);

function nestJSON(depth) {
  let v = [];
  for (let d = 1; d < depth; d++) v = [p('k', 'list', v)];
  return v;
}

// ---- invalid ----------------------------------------------------------------------------------------
const okAddp = encodeAddp(5);
const ok = msg(138, [cat(u16(2), u8(1), u32(9))]);
invalid('truncated length prefix', cat('000000'), 'ERR_INCOMPLETE');
invalid('truncated body', cat('0000000a 01 01 0000'), 'ERR_INCOMPLETE');
invalid('oversize from the prefix alone (default limit)', u32(1048577), 'ERR_FRAME_TOO_LARGE');
invalid('oversize beats incomplete', cat(u32(0xffffffff), '0101'), 'ERR_FRAME_TOO_LARGE');
invalid('oversize at a small limit', msg(52, [strAttr(1, Buffer.from('y'.repeat(50)))]), 'ERR_FRAME_TOO_LARGE', { limits: { maxFrameSize: 64 } });
invalid('length 0', cat('00000000'), 'ERR_FRAME_TOO_SMALL');
invalid('length 1', cat('00000001 01'), 'ERR_FRAME_TOO_SMALL');
invalid('bad version 0', cat('00000006 00 02 00000001'), 'ERR_BAD_VERSION');
invalid('bad version 2 on a message', frame(cat('02 01 00000001 0000')), 'ERR_BAD_VERSION');
invalid('bad kind 0', cat('00000006 01 00 00000001'), 'ERR_BAD_KIND');
invalid('bad kind 4', frame(cat('01 04 00000001 0000')), 'ERR_BAD_KIND');
invalid('bad kind 0xff, minimal body', cat('00000002 01 ff'), 'ERR_BAD_KIND');
invalid('bad ADDP payload of 3 bytes', cat('00000005 01 02 000001'), 'ERR_BAD_ADDP');
invalid('bad ADDP reply payload of 5 bytes', cat('00000007 01 03 0000000100'), 'ERR_BAD_ADDP');
invalid('value type 5 (Genesys Unicode) is refused', msg(1, [cat(u16(1), u8(5), u32(0))]), 'ERR_BAD_VALUE_TYPE');
invalid('value type 8', msg(1, [cat(u16(1), u8(8))]), 'ERR_BAD_VALUE_TYPE');
invalid('bad value type inside a list', msg(85, [listAttr(51, [pair('k', cat(u8(0xff)))])]), 'ERR_BAD_VALUE_TYPE');
invalid('message body of only version and kind', cat('00000002 01 01'), 'ERR_TRUNCATED');
invalid('attribute count truncated', frame(cat('01 01 00000001 00')), 'ERR_TRUNCATED');
invalid('fewer attributes than counted', msg(1, [cat(u16(2), u8(1), u32(9))], 2), 'ERR_TRUNCATED');
invalid('attribute id truncated', frame(cat(msgBody(1, [], 1), '00')), 'ERR_TRUNCATED');
invalid('string length past end', msg(1, [cat(u16(1), u8(0), u32(10), 'abcd')]), 'ERR_TRUNCATED');
invalid('string length field truncated', msg(1, [cat(u16(1), u8(0), '0000')]), 'ERR_TRUNCATED');
invalid('binary length past end', msg(1, [cat(u16(1), u8(2), u32(0xffffffff), '00')]), 'ERR_TRUNCATED');
invalid('int32 truncated', msg(1, [cat(u16(1), u8(1), '000000')]), 'ERR_TRUNCATED');
invalid('int64 truncated', msg(1, [cat(u16(1), u8(6), '00000000000000')]), 'ERR_TRUNCATED');
invalid('float64 truncated', msg(1, [cat(u16(1), u8(7), '3ff0')]), 'ERR_TRUNCATED');
invalid('key length past end', msg(85, [cat(u16(51), u8(3), u16(1), u16(200), '6b')]), 'ERR_TRUNCATED');
invalid('list count truncated', msg(85, [cat(u16(51), u8(3), '00')]), 'ERR_TRUNCATED');
invalid('depth 9 over the default maxDepth', msg(85, [cat(u16(51), nested(9))]), 'ERR_DEPTH_EXCEEDED');
invalid('depth 3 over maxDepth 2', msg(85, [cat(u16(51), nested(3))]), 'ERR_DEPTH_EXCEEDED', { limits: { maxDepth: 2 } });
const badUtf8 = {
  'overlong 2-byte C0 80': 'c080',
  'overlong 2-byte C1 BF': 'c1bf',
  'overlong 3-byte E0 80 80': 'e08080',
  'overlong 4-byte F0 80 80 80': 'f0808080',
  'surrogate ED A0 80 (U+D800)': 'eda080',
  'surrogate ED BF BF (U+DFFF)': 'edbfbf',
  'above U+10FFFF F4 90 80 80': 'f4908080',
  'lead byte F5': 'f5808080',
  'lone continuation 80': '80',
  'truncated sequence at end E2 82': 'e282',
  'truncated sequence before ASCII E2 82 41': 'e28241',
  'byte FF': 'ff',
};
for (const [what, hex] of Object.entries(badUtf8)) {
  invalid(`invalid UTF-8 in a string: ${what}`, msg(1, [strAttr(1, cat('61', hex))]), 'ERR_INVALID_UTF8');
}
invalid('invalid UTF-8 in a list key', msg(85, [listAttr(51, [cat(u16(2), 'c0af', u8(4))])]), 'ERR_INVALID_UTF8');
invalid('invalid UTF-8 in a nested string', msg(85, [listAttr(51, [pair('k', cat(u8(0), u32(3), 'eda080'))])]), 'ERR_INVALID_UTF8');
invalid('trailing bytes after the last attribute', frame(cat(msgBody(1, [cat(u16(2), u8(4))]), '00')), 'ERR_TRAILING_BYTES');
invalid('too many attributes', msg(1, [cat(u16(2), u8(4)), cat(u16(3), u8(4)), cat(u16(4), u8(4))]), 'ERR_TOO_MANY_ATTRIBUTES', { limits: { maxAttributes: 2 } });
invalid('too many attributes is checked before they are read', frame(cat(msgBody(1, [], 0xffff))), 'ERR_TOO_MANY_ATTRIBUTES');
invalid('good frame then garbage length', cat(ok, '00000001 00'), 'ERR_FRAME_TOO_SMALL', { offset: ok.length, framesBefore: 1 });
invalid('good frames then a bad version', cat(okAddp, ok, '00000006 07 02 00000001'), 'ERR_BAD_VERSION', { offset: okAddp.length + ok.length, framesBefore: 2 });
invalid('good frame then a partial one', cat(ok, '0000000a 01'), 'ERR_INCOMPLETE', { offset: ok.length, framesBefore: 1 });
invalid('good frame then a truncated prefix', cat(okAddp, '00'), 'ERR_INCOMPLETE', { offset: okAddp.length, framesBefore: 1 });

// ---- cross-check against the TS reference decoder, then write ----------------------------------------
let bad = 0;
for (const v of vectors) {
  let got;
  try {
    got = { frames: decodeFrames(Buffer.from(v.hex, 'hex'), v.limits).map(frameToJSON) };
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    got = { error: err.code, offset: err.offset };
  }
  const want = 'error' in v.expect ? { error: v.expect.error, offset: v.expect.offset } : v.expect;
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    console.error(`TS decoder disagrees on "${v.name}":\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`);
    bad++;
  }
}
const names = new Set(vectors.map((v) => v.name));
if (names.size !== vectors.length) throw new Error('duplicate vector names');
if (bad) {
  console.error(`${bad} vectors disagree; nothing written`);
  process.exit(1);
}

/** FrameInfo line for the C++ test: kind,type,seq,ref,token,attrCount,offset,length. */
function infoLine(hex, frames) {
  const buf = Buffer.from(hex, 'hex');
  let off = 0;
  return frames.map((f) => {
    const len = buf.readUInt32BE(off);
    const at = off;
    off += 4 + len;
    if (f.kind !== 'message') return `${f.kind === 'addp-poll' ? 2 : 3},0,-1,-1,${f.token},0,${at},${len}`;
    const seqAttr = f.attributes.find((x) => x.id === 148);
    const refAttr = f.attributes.find((x) => x.id === 2);
    const seq = seqAttr && (seqAttr.type === 'int32' || seqAttr.type === 'int64') ? String(seqAttr.value) : '-1';
    const ref = refAttr && refAttr.type === 'int32' ? String(refAttr.value) : '-1';
    return `1,${f.type},${seq},${ref},0,${f.attributes.length},${at},${len}`;
  }).join(';');
}

const lim = (l) => { const x = { ...DEFAULTS, ...l }; return `${x.maxFrameSize},${x.maxDepth},${x.maxAttributes}`; };
const txt = ['# Generated by test/vectors/generate.mjs from the same data as vectors.json. Do not edit.',
  '# name\tmaxFrameSize,maxDepth,maxAttributes\thex\texpect (see native/test/codec_test.cc)'];
for (const v of vectors) {
  const expect = 'error' in v.expect ? `${v.expect.error} ${v.expect.offset}` : `ok ${infoLine(v.hex, v.expect.frames)}`;
  txt.push([v.name, lim(v.limits), v.hex, expect].join('\t'));
}
writeFileSync(join(here, 'vectors.json'), JSON.stringify(vectors, null, 1) + '\n');
writeFileSync(join(here, 'vectors.txt'), txt.join('\n') + '\n');
const nValid = vectors.filter((v) => 'frames' in v.expect).length;
console.log(`wrote ${vectors.length} vectors (${nValid} valid, ${vectors.length - nValid} invalid)`);
