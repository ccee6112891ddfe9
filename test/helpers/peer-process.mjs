// A T-Server-like peer in its own process, so tests can SIGSTOP it and benchmarks can feed events from
// another core. Plain JS with no imports outside node: (children run without the TS toolchain).
// Speaks docs/protocol.md: answers RequestRegisterClient (EventServerInfo + EventLinkConnected) and any
// request with a ReferenceID (EventACK), answers ADDP polls, optionally runs its own ADDP timer, and on
// command streams pre-encoded EventRouteRequest frames to every registered connection.
//
// Usage: fork('peer-process.mjs', [JSON.stringify({ addpTimeoutMs, backupPort, padBytes })]) → IPC { port, backupPort }
// once listening (backupPort: a second listener that says ServerRole 1).
// IPC commands: { cmd: 'stream', rate (events/s, 0 = as fast as the socket takes), batch }, { cmd: 'stop' },
// { cmd: 'stats' } → { sent, addpDrops, connections }, { cmd: 'exit' }.
import * as net from 'node:net';

const opts = JSON.parse(process.argv[2] ?? '{}');
const ADDP = opts.addpTimeoutMs ?? 0;

// --- minimal encoder/decoder (docs/protocol.md) ----------------------------------------------------
const T_STRING = 0, T_INT32 = 1, T_LIST = 3, T_INT64 = 6;

function valueBytes(type, value) {
  switch (type) {
    case T_STRING: { const b = Buffer.from(value, 'utf8'); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); return Buffer.concat([h, b]); }
    case T_INT32: { const b = Buffer.alloc(4); b.writeInt32BE(value); return b; }
    case T_INT64: { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(value)); return b; }
    case T_LIST: {
      const parts = [Buffer.alloc(2)];
      parts[0].writeUInt16BE(value.length);
      for (const [k, t, v] of value) {
        const kb = Buffer.from(k, 'utf8'); const kh = Buffer.alloc(2); kh.writeUInt16BE(kb.length);
        parts.push(kh, kb, Buffer.of(t), valueBytes(t, v));
      }
      return Buffer.concat(parts);
    }
    default: throw new Error(`type ${type}`);
  }
}

/** Encode a message; returns the frame and the offset of each attribute's data (after its type byte). */
function encode(type, attrs) {
  const parts = [];
  const offsets = {};
  let off = 4 + 2 + 4 + 2;
  for (const [id, t, v] of attrs) {
    const h = Buffer.alloc(3); h.writeUInt16BE(id); h[2] = t;
    const vb = valueBytes(t, v);
    offsets[id] = off + 3;
    parts.push(h, vb);
    off += 3 + vb.length;
  }
  const head = Buffer.alloc(12);
  head.writeUInt32BE(off - 4, 0); head[4] = 1; head[5] = 1; head.writeUInt32BE(type, 6); head.writeUInt16BE(attrs.length, 10);
  return { frame: Buffer.concat([head, ...parts]), offsets };
}

function addp(token, reply) {
  const b = Buffer.alloc(10); b.writeUInt32BE(6, 0); b[4] = 1; b[5] = reply ? 3 : 2; b.writeUInt32BE(token >>> 0, 6); return b;
}

function skipValue(buf, pos, type) {
  switch (type) {
    case 0: case 2: return pos + 4 + buf.readUInt32BE(pos);
    case 1: return pos + 4;
    case 4: return pos;
    case 6: case 7: return pos + 8;
    case 3: {
      const n = buf.readUInt16BE(pos); pos += 2;
      for (let i = 0; i < n; i++) { pos += 2 + buf.readUInt16BE(pos); const t = buf[pos++]; pos = skipValue(buf, pos, t); }
      return pos;
    }
    default: throw new Error(`bad value type ${type}`);
  }
}

/** { kind, token } or { kind: 1, type, ref } for the frame body buf[start, end). */
function parseBody(buf, start, end) {
  const kind = buf[start + 1];
  if (kind !== 1) return { kind, token: buf.readUInt32BE(start + 2) };
  const type = buf.readUInt32BE(start + 2);
  const n = buf.readUInt16BE(start + 6);
  let pos = start + 8, ref = -1;
  for (let i = 0; i < n && pos < end; i++) {
    const id = buf.readUInt16BE(pos); const t = buf[pos + 2]; pos += 3;
    if (id === 2 && t === T_INT32) ref = buf.readInt32BE(pos);
    pos = skipValue(buf, pos, t);
  }
  return { kind, type, ref };
}

// --- event stream ----------------------------------------------------------------------------------
const BLOCK = 256;
const tmpl = encode(71, [
  [20, T_STRING, '5001'], [9, T_INT64, 0x1234567n], [19, T_STRING, '+15551230000'], [18, T_STRING, '8001'],
  [54, T_INT32, 2], [51, T_LIST, [['CustomerSegment', T_STRING, 'gold'], ['Language', T_STRING, 'en'], ['Attempt', T_INT32, 1]]],
  [148, T_INT64, 0n], [86, T_INT32, 1_700_000_000], [87, T_INT32, 0],
  // `padBytes`: an extra UserData-like string making each event that much bigger (big events, few per block).
  ...(opts.padBytes > 0 ? [[52, T_STRING, 'x'.repeat(opts.padBytes)]] : []),
]);
const FRAME = tmpl.frame.length;
const SEQ_OFF = tmpl.offsets[148];
const blockTemplate = Buffer.concat(Array.from({ length: BLOCK }, () => tmpl.frame));
let seq = 0;
let sent = 0;

/** `n` consecutive events (n ≤ BLOCK) as one buffer, with fresh sequence numbers. */
function events(n) {
  const b = Buffer.from(blockTemplate.subarray(0, n * FRAME));
  for (let i = 0; i < n; i++) b.writeBigInt64BE(BigInt(++seq), i * FRAME + SEQ_OFF);
  return b;
}

// --- connections -----------------------------------------------------------------------------------
const conns = new Set();
let addpDrops = 0;

function onConnection(sock, role = 0) {
  sock.setNoDelay(true);
  const c = { sock, role, registered: false, lastRx: Date.now(), pollSent: -1, token: 0, timer: null };
  conns.add(c);
  let tail = null;
  sock.on('data', (chunk) => {
    c.lastRx = Date.now();
    let buf = tail ? Buffer.concat([tail, chunk]) : chunk;
    tail = null;
    let pos = 0;
    while (buf.length - pos >= 4) {
      const len = buf.readUInt32BE(pos);
      if (len > 16 * 1024 * 1024) { sock.destroy(); return; }
      if (buf.length - pos - 4 < len) break;
      const f = parseBody(buf, pos + 4, pos + 4 + len);
      pos += 4 + len;
      if (f.kind === 2) sock.write(addp(f.token, true));
      else if (f.kind === 1) reply(c, f);
    }
    if (pos < buf.length) tail = Buffer.from(buf.subarray(pos));
  });
  sock.on('error', () => {});
  sock.on('close', () => { conns.delete(c); if (c.timer) { clearTimeout(c.timer); clearImmediate(c.timer); } });
  if (ADDP > 0) armAddp(c, ADDP);
}

function armAddp(c, ms) {
  c.timer = setTimeout(() => {
    const now = Date.now();
    if (c.pollSent >= 0 && c.lastRx >= c.pollSent) c.pollSent = -1;
    if (c.pollSent < 0) {
      if (now - c.lastRx < ADDP) return armAddp(c, ADDP - (now - c.lastRx));
      c.pollSent = now;
      c.sock.write(addp(++c.token, false));
      return armAddp(c, ADDP);
    }
    if (now - c.pollSent < ADDP) return armAddp(c, ADDP - (now - c.pollSent));
    // Timers run before I/O in a loop turn: when this process was not scheduled for a while, the reply may
    // be waiting unread in the socket. Let pending reads run first (setImmediate comes after the poll
    // phase), then decide. A client that really stopped answering is still dropped, one turn later.
    c.timer = setImmediate(() => {
      c.timer = null;
      if (c.sock.destroyed) return;
      if (c.lastRx >= c.pollSent) return armAddp(c, 1);
      addpDrops++;
      c.sock.destroy();
    });
  }, Math.max(1, ms));
}

function reply(c, f) {
  if (f.type === 0) {
    c.sock.write(encode(93, [[62, T_INT32, c.role], [61, T_STRING, '8.1-proc'], [108, T_INT64, 7n], [147, T_INT32, 1_700_000_000],
      [148, T_INT64, BigInt(seq)], [2, T_INT32, f.ref]]).frame);
    c.sock.write(encode(95, [[64, T_STRING, 'peer-process'], [108, T_INT64, 7n], [86, T_INT32, 1_700_000_000], [87, T_INT32, 0]]).frame);
    c.registered = true;
  } else if (f.ref >= 0) {
    c.sock.write(encode(138, [[2, T_INT32, f.ref]]).frame);
  }
}

// --- streaming -------------------------------------------------------------------------------------
let streamTimer = null;

function startStream(rate, batch) {
  stopStream();
  const t0 = process.hrtime.bigint();
  let offered = 0;
  const tick = () => {
    const targets = [...conns].filter((c) => c.registered && !c.sock.destroyed);
    if (targets.length === 0) return;
    let n;
    if (rate > 0) {
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      n = Math.min(Math.floor(elapsed * rate) - offered, BLOCK * 64);
      if (n <= 0) return;
      offered += n;
    } else {
      // Saturation: keep every socket's queue topped up to ~1 MiB.
      if (targets.some((c) => c.sock.writableLength > 1 << 20)) return;
      n = BLOCK * 16;
    }
    while (n > 0) {
      const k = Math.min(n, batch, BLOCK);
      const b = events(k);
      // Same bytes (same sequence numbers) to every connection: a primary and its backup.
      for (const c of targets) if (c.sock.writableLength < 64 << 20) c.sock.write(b);
      sent += k;
      n -= k;
    }
  };
  streamTimer = setInterval(tick, 1);
}

function stopStream() {
  if (streamTimer) clearInterval(streamTimer);
  streamTimer = null;
}

const server = net.createServer((s) => onConnection(s, 0));
// With `backupPort`, a second listener whose connections are told ServerRole 1: one process is then both
// servers of a hot pair, sending both the same events (same sequence numbers).
const backupServer = opts.backupPort ? net.createServer((s) => onConnection(s, 1)) : null;
server.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, backlog: opts.backlog ?? 511 }, () => {
  if (!backupServer) return process.send?.({ port: server.address().port, frameBytes: FRAME });
  backupServer.listen({ host: opts.host ?? '127.0.0.1', port: 0, backlog: opts.backlog ?? 511 }, () => {
    process.send?.({ port: server.address().port, backupPort: backupServer.address().port, frameBytes: FRAME });
  });
});

process.on('message', (m) => {
  if (m.cmd === 'stream') startStream(m.rate ?? 0, m.batch ?? 64);
  else if (m.cmd === 'stop') stopStream();
  else if (m.cmd === 'stats') process.send?.({ stats: { sent, seq, addpDrops, connections: conns.size } });
  else if (m.cmd === 'exit') process.exit(0);
});
// Never outlive the parent.
process.on('disconnect', () => process.exit(0));
