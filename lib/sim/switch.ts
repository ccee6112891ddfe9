/**
 * The switch process: originates call traffic on route points and agent DNs, stamps every event with one
 * global EventSequenceNumber, writes it to every T-Server whose CTI link is up, and appends it to the
 * oracle log first (so the oracle is never behind the wire).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { FrameDecoder, MessageType, encodeMessage, getAttr, messageName, type Frame } from '../protocol/index.js';
import { childConfig, runChild, toParent } from './child.js';
import { Private, buildTemplate, type EventTemplate } from './frames.js';

/** Switch configuration (passed by the parent as JSON). */
export interface SwitchConfig {
  host: string;
  /** More addresses to accept CTI links on (a T-Server in a network namespace). */
  extraHosts: string[];
  port: number;
  /** Events per second; 0 = only on `emit` commands. */
  rate: number;
  routePoints: number;
  agents: number;
  /** Calls in progress at once (each call: RouteRequest, Ringing, Established, Released). */
  concurrentCalls: number;
  dir: string;
  /** A CTI link whose unsent bytes exceed this is dropped, as a real switch drops a stuck link. */
  linkBufferLimit: number;
}

/** First route point and agent DN numbers. */
export const FIRST_ROUTE_POINT = 7000;
export const FIRST_AGENT = 5000;
/** Bit of each server in the oracle's `links` column. */
export const LINK_BITS: Record<string, number> = { A: 1, B: 2 };

const NAMES = new Map<number, string>([MessageType.EventRouteRequest, MessageType.EventRinging, MessageType.EventEstablished, MessageType.EventReleased].map((t) => [t, messageName(t)]));

interface Slot {
  stage: number;
  /** A safe integer (< 2^53), so no BigInt on the hot path. */
  connId: number;
  rp: number;
  agent: number;
}

interface Link {
  name: string;
  socket: net.Socket;
}

class Switch {
  private seq = 0;
  private connCounter = 0;
  private readonly links = new Map<string, Link>();
  private readonly disabled = new Set<string>();
  private readonly templates = new Map<string, EventTemplate>();
  private readonly slots: Slot[] = [];
  private readonly byIndex: (EventTemplate | undefined)[] = [];
  private cursor = 0;
  private readonly oracleFd: number;
  private rate: number;
  private rateBase = 0;
  private rateEmitted = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly rps: string[];
  private readonly agents: string[];

  constructor(private readonly cfg: SwitchConfig) {
    this.oracleFd = openSync(join(cfg.dir, 'oracle.tsv'), 'a');
    this.rps = Array.from({ length: cfg.routePoints }, (_, i) => String(FIRST_ROUTE_POINT + i));
    this.agents = Array.from({ length: cfg.agents }, (_, i) => String(FIRST_AGENT + i));
    for (let i = 0; i < cfg.concurrentCalls; i++) this.slots.push({ stage: 0, connId: 0, rp: 0, agent: 0 });
    this.rate = cfg.rate;
  }

  private template(type: number, dn: string): EventTemplate {
    const key = `${type}:${dn}`;
    let t = this.templates.get(key);
    if (!t) {
      const ani = `555${dn}`;
      const extra =
        type === MessageType.EventRouteRequest
          ? { ANI: ani, DNIS: `800${dn}`, CallType: 2, UserData: { Segment: 'gold', RP: dn } }
          : { ANI: ani, DNIS: '8001000', OtherDN: ani };
      t = buildTemplate(type, dn, extra);
      this.templates.set(key, t);
    }
    return t;
  }

  /** Emit `n` scripted events now: oracle first, then one write per CTI link. */
  emit(n: number): void {
    if (n <= 0) return;
    const picked: EventTemplate[] = new Array(n);
    const conns: number[] = new Array(n);
    let size = 0;
    let lines = '';
    const nowMs = Date.now();
    const secs = Math.floor(nowMs / 1000);
    const usecs = (nowMs % 1000) * 1000;
    const timeUs = nowMs * 1000;
    let mask = 0;
    for (const name of this.links.keys()) mask |= LINK_BITS[name] ?? 0;
    const nRp = this.rps.length;
    const nAg = this.agents.length;
    const firstSeq = this.seq + 1;
    for (let i = 0; i < n; i++) {
      const slot = this.slots[this.cursor]!;
      this.cursor = (this.cursor + 1) % this.slots.length;
      let type: number;
      let dn: string;
      let key: number;
      if (slot.stage === 0) {
        const c = ++this.connCounter;
        slot.connId = 0x100000000 + c;
        slot.rp = c % nRp;
        slot.agent = (c * 7) % nAg;
        type = MessageType.EventRouteRequest;
        dn = this.rps[slot.rp]!;
        key = slot.rp;
      } else {
        type = slot.stage === 1 ? MessageType.EventRinging : slot.stage === 2 ? MessageType.EventEstablished : MessageType.EventReleased;
        dn = this.agents[slot.agent]!;
        key = nRp + (slot.stage - 1) * nAg + slot.agent;
      }
      slot.stage = (slot.stage + 1) % 4;
      // Templates indexed by (event kind, DN): no string keys on the hot path.
      const t = this.byIndex[key] ?? (this.byIndex[key] = this.template(type, dn));
      picked[i] = t;
      conns[i] = slot.connId;
      size += t.bytes.length;
      lines += `${++this.seq}\t${NAMES.get(type)}\t${dn}\t${slot.connId}\t${timeUs}\t${mask}\n`;
    }
    // One buffer for the whole batch: templates copied in, then seq/ConnID/time patched in place.
    const batch = Buffer.allocUnsafe(size);
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const t = picked[i]!;
      t.bytes.copy(batch, pos);
      const seq = firstSeq + i;
      const conn = conns[i]!;
      batch.writeUInt32BE(Math.floor(seq / 0x100000000), pos + 15);
      batch.writeUInt32BE(seq >>> 0, pos + 19);
      batch.writeUInt32BE(Math.floor(conn / 0x100000000), pos + t.connIdOffset);
      batch.writeUInt32BE(conn >>> 0, pos + t.connIdOffset + 4);
      batch.writeInt32BE(secs, pos + t.secsOffset);
      batch.writeInt32BE(usecs, pos + t.usecsOffset);
      pos += t.bytes.length;
    }
    writeSync(this.oracleFd, lines);
    for (const link of this.links.values()) {
      link.socket.write(batch);
      if (link.socket.writableLength > this.cfg.linkBufferLimit) this.dropLink(link, 'link buffer overflow (server not reading)');
    }
  }

  private note(line: string): void {
    writeSync(this.oracleFd, `# ${Date.now() * 1000}\t${line}\n`);
  }

  private dropLink(link: Link, why: string): void {
    if (this.links.get(link.name) !== link) return;
    this.links.delete(link.name);
    this.note(`link-down\t${link.name}\t${this.seq}\t${why}`);
    link.socket.destroy();
    toParent({ t: 'event', event: 'link-down', server: link.name, seq: this.seq, reason: why });
  }

  accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    let link: Link | undefined;
    socket.on('data', (chunk) => {
      try {
        decoder.write(chunk, (f: Frame) => {
          if (f.kind !== 1 || f.type !== Private.CtiHello || link) return;
          const name = String(getAttr(f, 64) ?? '');
          if (this.disabled.has(name)) {
            socket.destroy();
            return;
          }
          const old = this.links.get(name);
          if (old) this.dropLink(old, 'replaced by a new connection');
          link = { name, socket };
          socket.write(encodeMessage(Private.CtiLinkUp, { EventSequenceNumber: BigInt(this.seq) }));
          this.links.set(name, link);
          this.note(`link-up\t${name}\t${this.seq}`);
        });
      } catch {
        socket.destroy();
      }
    });
    const gone = () => {
      if (link) this.dropLink(link, 'server closed the link');
    };
    socket.on('close', gone);
    socket.on('error', () => {});
  }

  setRate(rate: number): void {
    this.rate = rate;
    this.rateBase = performance.now();
    this.rateEmitted = 0;
    if (rate > 0 && !this.timer) this.tick();
  }

  private tick = (): void => {
    this.timer = undefined;
    if (this.rate <= 0) return;
    const due = Math.floor(((performance.now() - this.rateBase) / 1000) * this.rate) - this.rateEmitted;
    // Cap one batch at 50 ms of traffic: a stalled loop must not turn into one giant burst.
    const n = Math.min(due, Math.max(1, Math.ceil(this.rate / 20)));
    if (n > 0) {
      this.emit(n);
      this.rateEmitted += n;
    }
    if (due - n > this.rate) {
      // More than a second behind: we cannot keep this rate, so stop owing the backlog.
      this.rateEmitted = due;
    }
    this.timer = setTimeout(this.tick, 1);
  };

  setLink(name: string, up: boolean): void {
    if (up) {
      this.disabled.delete(name);
      return;
    }
    this.disabled.add(name);
    const l = this.links.get(name);
    if (l) this.dropLink(l, 'CTI link down (fault)');
  }

  status() {
    return { seq: this.seq, rate: this.rate, links: [...this.links.keys()], disabled: [...this.disabled] };
  }

  close(): void {
    closeSync(this.oracleFd);
  }
}

/** Entry point of the switch child process. */
export function main(): void {
  const cfg = childConfig<SwitchConfig>();
  const sw = new Switch(cfg);
  const server = net.createServer((s) => sw.accept(s));
  server.listen({ host: cfg.host, port: cfg.port }, () => {
    const addr = server.address() as net.AddressInfo;
    toParent({ t: 'ready', port: addr.port });
    sw.setRate(cfg.rate);
  });
  server.on('error', (err) => {
    process.stderr.write(`switch: ${err.message}\n`);
    process.exit(1);
  });
  for (const host of cfg.extraHosts) {
    const extra = net.createServer((s) => sw.accept(s));
    extra.on('error', (err) => {
      process.stderr.write(`switch on ${host}: ${err.message}\n`);
      process.exit(1);
    });
    extra.listen({ host, port: cfg.port });
  }
  runChild(
    (cmd) => {
      switch (cmd.op) {
        case 'emit':
          sw.emit(Number(cmd.count));
          return sw.status();
        case 'rate':
          sw.setRate(Number(cmd.rate));
          return sw.status();
        case 'link':
          sw.setLink(String(cmd.server), Boolean(cmd.up));
          return sw.status();
        case 'status':
          return sw.status();
        default:
          throw new Error(`switch: unknown command ${cmd.op}`);
      }
    },
    () => sw.close(),
  );
}
