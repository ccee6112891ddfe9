/**
 * The switch process: originates call traffic on route points and agent DNs, stamps every event with one
 * global EventSequenceNumber, writes it to every T-Server whose CTI link is up, and appends it to the
 * oracle log first (so the oracle is never behind the wire).
 *
 * Call model (docs/simulator.md, "Traffic and the oracle"): a call's EventRouteRequest puts it on its
 * route point, where it waits until a T-Server routes it (CtiRoute, on behalf of a client's
 * RequestRouteCall) or its route timeout sends it to its default destination. Only then does it ring an
 * agent (Ringing, Established, Released). Every routing decision is an oracle note.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Attr, ErrorCode, FrameDecoder, MessageType, encodeMessage, getAttr, messageName, type Frame } from '../protocol/index.js';
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
  /** How long a call waits on its route point for a route before going to its default destination (0: not at all). */
  routeTimeoutMs: number;
  /** Calls waiting on route points at most; past it the oldest goes to its default destination at once. */
  maxWaitingCalls: number;
}

/** First route point and agent DN numbers. */
export const FIRST_ROUTE_POINT = 7000;
export const FIRST_AGENT = 5000;
/** Bit of each server in the oracle's `links` column. */
export const LINK_BITS: Record<string, number> = { A: 1, B: 2 };

const NAMES = new Map<number, string>([MessageType.EventRouteRequest, MessageType.EventRinging, MessageType.EventEstablished, MessageType.EventReleased].map((t) => [t, messageName(t)]));

/**
 * A call slot: the switch emits one event per slot turn, round robin, so up to `concurrentCalls` calls ring
 * agents at once. A free slot (stage 0) takes the oldest routed call (its Ringing) or, when none is routed,
 * starts a new call (its EventRouteRequest: the call then waits on its route point, outside any slot).
 */
interface Slot {
  /** 0: free; 1, 2, 3: the call's next event is Ringing, Established, Released. */
  stage: number;
  /** A safe integer (< 2^53), so no BigInt on the hot path. */
  connId: number;
  agent: number;
}

/** How a call left its route point. */
export type RouteOutcome = 'request' | 'timeout' | 'overflow';

/** A call from its EventRouteRequest to its EventReleased. */
interface Call {
  connId: number;
  rp: number;
  /** Agent index the call rings: the default destination until a request routes it elsewhere. */
  agent: number;
  /** Monotonic ms at which the route timeout sends it to its default destination. */
  deadline: number;
  /** null while waiting on the route point. */
  routed: RouteOutcome | null;
}

/** ErrorCodes of CtiRouteResult (the T-Server passes them on in EventError; docs/simulator.md). */
export const RouteError = {
  CallNotFound: ErrorCode.CallNotFound,
  AlreadyRouted: ErrorCode.CallAlreadyRouted,
  DefaultRouted: ErrorCode.RouteTimedOut,
} as const;

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
  /** Calls from RouteRequest to Released, by ConnID. */
  private readonly calls = new Map<number, Call>();
  /** Calls waiting on a route point, oldest first (insertion order = deadline order). */
  private readonly waiting = new Map<number, Call>();
  /** Routed calls waiting for a free slot to ring their agent, oldest first. */
  private routedQ: Call[] = [];
  private routedHead = 0;
  private timeoutTimer: NodeJS.Timeout | undefined;
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
    for (let i = 0; i < cfg.concurrentCalls; i++) this.slots.push({ stage: 0, connId: 0, agent: 0 });
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

  /**
   * Emit up to `n` scripted events now: oracle first, then one write per CTI link. With `paced` (generated
   * traffic) a new call starts only on arrival credit (calls arrive at rate/4 per second, whatever routing
   * does), so fewer may be emitted; returns how many were.
   */
  emit(n: number, paced = false): number {
    if (n <= 0) return 0;
    this.inEmit = true;
    try {
      return this.emitBatch(n, paced);
    } finally {
      this.inEmit = false;
    }
  }

  /** Calls that may still arrive (paced traffic): accrues at rate/4 per second, capped at 50 ms worth. */
  private callCredit = 0;
  private creditAt = 0;

  private emitBatch(n: number, paced: boolean): number {
    const picked: EventTemplate[] = new Array(n);
    const conns: number[] = new Array(n);
    let size = 0;
    let lines = '';
    const nowMs = Date.now();
    const secs = Math.floor(nowMs / 1000);
    const usecs = (nowMs % 1000) * 1000;
    const timeUs = nowMs * 1000;
    const nowMono = performance.now();
    let mask = 0;
    for (const name of this.links.keys()) mask |= LINK_BITS[name] ?? 0;
    const nRp = this.rps.length;
    const nAg = this.agents.length;
    const firstSeq = this.seq + 1;
    this.expireWaiting();
    let i = 0;
    // A pass over every slot without an event ends the batch (paced: no call may arrive yet).
    let idle = 0;
    while (i < n && idle < this.slots.length) {
      const slot = this.slots[this.cursor]!;
      this.cursor = (this.cursor + 1) % this.slots.length;
      if (paced && slot.stage === 0 && this.routedHead >= this.routedQ.length && this.callCredit < 1) {
        idle++;
        continue;
      }
      idle = 0;
      let type: number;
      let dn: string;
      let key: number;
      let connId: number;
      if (slot.stage === 0 && this.routedHead < this.routedQ.length) {
        // A routed call takes the free slot: its agent rings.
        const call = this.routedQ[this.routedHead++]!;
        if (this.routedHead > 1024 && this.routedHead * 2 > this.routedQ.length) {
          this.routedQ = this.routedQ.slice(this.routedHead);
          this.routedHead = 0;
        }
        slot.connId = call.connId;
        slot.agent = call.agent;
        slot.stage = 1;
      }
      if (slot.stage === 0) {
        // A new call arrives on a route point and waits there (outside the slot) for its route.
        if (paced) this.callCredit--;
        const c = ++this.connCounter;
        connId = 0x100000000 + c;
        const rp = c % nRp;
        const call: Call = { connId, rp, agent: (c * 7) % nAg, deadline: nowMono + this.cfg.routeTimeoutMs, routed: null };
        this.calls.set(connId, call);
        type = MessageType.EventRouteRequest;
        dn = this.rps[rp]!;
        key = rp;
        if (this.cfg.routeTimeoutMs === 0) this.route(call, 'timeout', this.seq + 2, timeUs);
        else {
          this.waiting.set(connId, call);
          if (this.waiting.size > this.cfg.maxWaitingCalls) this.route(this.waiting.values().next().value!, 'overflow', this.seq + 2, timeUs);
        }
      } else {
        type = slot.stage === 1 ? MessageType.EventRinging : slot.stage === 2 ? MessageType.EventEstablished : MessageType.EventReleased;
        dn = this.agents[slot.agent]!;
        key = nRp + (slot.stage - 1) * nAg + slot.agent;
        connId = slot.connId;
        if (slot.stage === 3) {
          this.calls.delete(connId);
          slot.stage = 0;
        } else slot.stage++;
      }
      // Templates indexed by (event kind, DN): no string keys on the hot path.
      const t = this.byIndex[key] ?? (this.byIndex[key] = this.template(type, dn));
      picked[i] = t;
      conns[i++] = connId;
      size += t.bytes.length;
      lines += `${++this.seq}\t${NAMES.get(type)}\t${dn}\t${connId}\t${timeUs}\t${mask}\n`;
    }
    if (this.notes) {
      lines += this.notes;
      this.notes = '';
    }
    n = i;
    if (n === 0) {
      if (lines) writeSync(this.oracleFd, lines);
      this.armTimeout();
      return 0;
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
    this.armTimeout();
    return n;
  }

  /** Route notes produced while emitting a batch: appended after its event lines (same write). */
  private notes = '';

  /**
   * The call leaves its route point: to `agent` (a request) or to its default destination (timeout,
   * overflow). Its agent rings when a slot is free. Noted in the oracle, with `afterSeq` = the last seq
   * emitted before the decision.
   */
  private route(call: Call, by: RouteOutcome, nextSeq: number, timeUs: number, server = '', agent?: number): void {
    this.waiting.delete(call.connId);
    call.routed = by;
    if (agent !== undefined) call.agent = agent;
    this.routedQ.push(call);
    const line = `# ${timeUs}\troute\t${call.connId}\t${this.rps[call.rp]}\t${this.agents[call.agent]}\t${by}\t${server}\t${nextSeq - 1}\n`;
    // Inside a batch the note goes after the batch's lines (the RouteRequest it follows is among them).
    if (this.inEmit) this.notes += line;
    else writeSync(this.oracleFd, line);
  }

  private inEmit = false;

  /** Send every call whose route timeout passed to its default destination. */
  private expireWaiting(): void {
    if (this.waiting.size === 0) return;
    const now = performance.now();
    const timeUs = Date.now() * 1000;
    for (const call of this.waiting.values()) {
      if (call.deadline > now) break;
      this.route(call, 'timeout', this.seq + 1, timeUs);
    }
  }

  /** One timer for the oldest waiting call's deadline (deadlines grow with arrival: one route timeout). */
  private armTimeout(): void {
    if (this.timeoutTimer || this.waiting.size === 0) return;
    const head = this.waiting.values().next().value!;
    this.timeoutTimer = setTimeout(() => {
      this.timeoutTimer = undefined;
      this.expireWaiting();
      this.armTimeout();
    }, Math.max(1, Math.ceil(head.deadline - performance.now())));
    this.timeoutTimer.unref();
  }

  /**
   * A T-Server asks to route `connId` to `otherDN` for a client (CtiRoute). The switch is the authority:
   * 0 = routed (the agent rings when a slot is free); else an ErrorCode of {@link RouteError}.
   */
  routeRequest(server: string, connId: number, otherDN: string): { code: number; dn: string } {
    const call = this.calls.get(connId);
    if (!call) return { code: RouteError.CallNotFound, dn: '' };
    const rp = this.rps[call.rp]!;
    if (call.routed === 'request') return { code: RouteError.AlreadyRouted, dn: rp };
    if (call.routed !== null) return { code: RouteError.DefaultRouted, dn: rp };
    // A destination among our agents steers the call there; any other rings the call's default agent.
    const idx = this.agents.indexOf(otherDN);
    this.route(call, 'request', this.seq + 1, Date.now() * 1000, server, idx >= 0 ? idx : undefined);
    return { code: 0, dn: rp };
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
          if (f.kind === 1 && f.type === Private.CtiRoute && link) {
            const r = this.routeRequest(link.name, Number(getAttr(f, Attr.ConnID) ?? 0), String(getAttr(f, Attr.OtherDN) ?? ''));
            socket.write(encodeMessage(Private.CtiRouteResult, { ReferenceID: Number(getAttr(f, Attr.ReferenceID) ?? 0), ErrorCode: r.code, ThisDN: r.dn }));
            return;
          }
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
    this.creditAt = this.rateBase;
    this.callCredit = 1;
    if (rate > 0 && !this.timer) this.tick();
  }

  private tick = (): void => {
    this.timer = undefined;
    if (this.rate <= 0) return;
    const now = performance.now();
    // Calls arrive at rate/4 per second (each makes 4 events once routed), at most 50 ms worth at once.
    this.callCredit = Math.min(this.callCredit + ((now - this.creditAt) / 1000) * (this.rate / 4), Math.max(2, this.rate / 80));
    this.creditAt = now;
    const due = Math.floor(((now - this.rateBase) / 1000) * this.rate) - this.rateEmitted;
    // Cap one batch at 50 ms of traffic: a stalled loop must not turn into one giant burst.
    const n = Math.min(due, Math.max(1, Math.ceil(this.rate / 20)));
    if (n > 0) {
      const emitted = this.emit(n, true);
      // Fewer than due: calls are not arriving faster (routing is slow or stalled): nothing is owed.
      this.rateEmitted += emitted < n ? due : n;
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
    return {
      seq: this.seq,
      rate: this.rate,
      links: [...this.links.keys()],
      disabled: [...this.disabled],
      calls: this.calls.size,
      waitingCalls: this.waiting.size,
      routedCalls: this.routedQ.length - this.routedHead,
      routeTimeoutMs: this.cfg.routeTimeoutMs,
    };
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
