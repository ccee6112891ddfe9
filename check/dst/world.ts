/**
 * The simulated peers of the decision-core simulation: a switch, two T-Servers and a management role, in
 * memory, on the virtual clock. They keep the protocol's promises (docs/protocol.md) exactly — sequence
 * numbers per numbering epoch, positions in EventServerInfo / EventRegistered / link reports, replies with
 * the request's ReferenceID — so that any broken invariant is the client's fault, not the world's.
 */
import { ValueType } from '../../lib/protocol/constants.js';
import { Attr, ErrorCode, MessageType, ServerRole } from '../../lib/protocol/ids.js';
import type { Attribute, MessageFrame } from '../../lib/protocol/types.js';
import type { SimConnection } from './sim-transport.js';
import { refOf } from '../../lib/transport/frame-batch.js';

export type ServerName = 'A' | 'B';

/** One event the switch sent: the oracle. */
export interface SwitchEvent {
  /** The switch's own number; also carried as the event's ConnID so the checker can identify it. */
  sw: number;
  dn: string;
  type: number;
  timeUs: number;
}

export interface WorldOptions {
  mode: 'hot' | 'warm';
  /** DNs the switch generates events for. */
  dns: readonly string[];
  promotionDelayMs: number;
  autoPromote: boolean;
  /** One-way network delay, ms. */
  netDelayMs: number;
  /** Stamp events with the millisecond only (many events share a time stamp, as with a real switch clock). */
  coarseTime?: boolean;
  rng: () => number;
}

const CALL_EVENTS = [MessageType.EventRouteRequest, MessageType.EventRinging, MessageType.EventEstablished, MessageType.EventReleased];

const int = (id: number, value: number): Attribute => ({ id, type: ValueType.Int32, value });
/** int64 attributes (EventSequenceNumber, ConnID, SessionID) travel as int64, as docs/protocol.md has it. */
const long = (id: number, value: number): Attribute => ({ id, type: ValueType.Int64, value: BigInt(value) });
const str = (id: number, value: string): Attribute => ({ id, type: ValueType.String, value });
const msg = (type: number, attributes: Attribute[]): MessageFrame => ({ kind: 1, type, attributes }) as MessageFrame;

/** Errors a server answers with (docs/simulator.md's table). */
const ERR = { notRegistered: ErrorCode.NotRegistered, backup: ErrorCode.BackupRefused, linkDown: ErrorCode.LinkDown, alreadyRouted: ErrorCode.CallAlreadyRouted } as const;

export class SimServer {
  alive = true;
  /** SIGSTOP: processes nothing, sends nothing; TCP still accepts. */
  hung = false;
  /** Sockets stall: output queues until un-silenced; nothing is read. */
  silent = false;
  refusing = false;
  role: 0 | 1;
  /** The switch's side of the CTI link. */
  linkUp = true;
  /** The link state this server has processed (a hung server lags the switch). */
  reportedLinkUp = true;
  label: string;
  base = 0;
  /** Last sequence number this server had, in its own numbering. */
  lastSeq = 0;
  latencyMs = 0;
  dupReplies = false;
  incarnation = 0;
  renumbers = 0;
  readonly conns = new Set<SimConnection>();
  /** What a hung server has not read yet from its CTI link: events, and link changes (in order). */
  private backlog: (SwitchEvent | { up: boolean; pos: number })[] = [];

  constructor(readonly name: ServerName, readonly world: World, role: 0 | 1, label: string) {
    this.role = role;
    this.label = label;
  }

  /** Accepts TCP connections (a warm backup listens only once promoted). */
  get listening(): boolean {
    return this.alive && !this.refusing && (this.world.opts.mode === 'hot' || this.role === ServerRole.Primary);
  }

  /** Answers anything at all right now. */
  get responsive(): boolean {
    return this.alive && !this.hung && !this.silent;
  }

  fromSwitch(ev: SwitchEvent): void {
    if (!this.alive || !this.linkUp) return;
    if (this.hung) {
      this.backlog.push(ev);
      return;
    }
    this.forward(ev);
  }

  private forward(ev: SwitchEvent): void {
    const seq = ev.sw - this.base;
    this.lastSeq = seq;
    let frame: MessageFrame | undefined;
    for (const c of this.conns) {
      if (!c.dns.has(ev.dn)) continue;
      frame ??= msg(ev.type, [
        long(Attr.EventSequenceNumber, seq), str(Attr.ThisDN, ev.dn), long(Attr.ConnID, ev.sw),
        int(Attr.TimeinSecs, Math.floor(ev.timeUs / 1e6)), int(Attr.TimeinuSecs, ev.timeUs % 1e6),
      ]);
      c.toClient(frame);
    }
  }

  resume(): void {
    if (!this.hung) return;
    this.hung = false;
    const b = this.backlog;
    this.backlog = [];
    for (const x of b) {
      if ('sw' in x) this.forward(x);
      else this.reportLink(x.up, x.pos);
    }
    for (const c of this.conns) c.resumed();
  }

  setSilent(on: boolean): void {
    if (!this.alive || this.silent === on) return;
    this.silent = on;
    if (!on) for (const c of this.conns) c.resumed();
  }

  /** A request from a client connection, in arrival order (a hung server reads it when it resumes). */
  request(c: SimConnection, frame: MessageFrame): void {
    const ref = refOf(frame);
    const reply = (m: MessageFrame) => {
      c.toClient(m);
      if (this.dupReplies && ref > 0) c.toClient(m);
    };
    const withRef = (type: number, attrs: Attribute[]) => msg(type, ref > 0 ? [int(Attr.ReferenceID, ref), ...attrs] : attrs);
    const error = (code: number) => reply(withRef(MessageType.EventError, [int(Attr.ErrorCode, code), str(Attr.ErrorMessage, `sim error ${code}`)]));
    if (frame.type === MessageType.RequestRegisterClient) {
      c.registered = true;
      reply(withRef(MessageType.EventServerInfo, [
        int(Attr.ServerRole, this.role), str(Attr.ServerVersion, 'dst'), long(Attr.SessionID, this.incarnation),
        long(Attr.EventSequenceNumber, this.lastSeq),
        { id: Attr.Extensions, type: ValueType.List, value: [{ key: 'seq-epoch', type: ValueType.String, value: this.label }] },
      ]));
      c.toClient(this.linkReport());
      return;
    }
    if (!c.registered) return error(ERR.notRegistered);
    const dn = strOf(frame, Attr.ThisDN);
    switch (frame.type) {
      case MessageType.RequestRegisterAddress:
        c.dns.add(dn);
        return reply(withRef(MessageType.EventRegistered, [str(Attr.ThisDN, dn), long(Attr.EventSequenceNumber, this.lastSeq)]));
      case MessageType.RequestUnregisterAddress:
        c.dns.delete(dn);
        return reply(withRef(MessageType.EventUnregistered, [str(Attr.ThisDN, dn)]));
      case MessageType.RequestRouteCall: {
        const id = strOf(frame, Attr.OtherDN);
        this.world.receipts.set(id, (this.world.receipts.get(id) ?? 0) + 1);
        const entry = { id, server: this.name, conn: c.id, at: Date.now(), refused: false };
        this.world.routeLog.push(entry);
        if (this.role !== ServerRole.Primary || !this.reportedLinkUp) {
          entry.refused = true;
          return error(this.role !== ServerRole.Primary ? ERR.backup : ERR.linkDown);
        }
        // Acted on: the switch routes a call once and refuses any later route for it (1202).
        this.world.executions.set(id, (this.world.executions.get(id) ?? 0) + 1);
        if (this.world.routed.has(id)) return error(ERR.alreadyRouted);
        this.world.routed.add(id);
        return reply(withRef(MessageType.EventRouteUsed, [str(Attr.ThisDN, dn), str(Attr.OtherDN, id)]));
      }
      default:
        return error(ErrorCode.UnknownRequest);
    }
  }

  /** The link report for a new client, with its position (docs/protocol.md, "Link positions"). */
  linkReport(): MessageFrame {
    const t = this.world.nowUs();
    return msg(this.reportedLinkUp ? MessageType.EventLinkConnected : MessageType.EventLinkDisconnected, [
      long(Attr.EventSequenceNumber, this.lastSeq), int(Attr.TimeinSecs, Math.floor(t / 1e6)), int(Attr.TimeinuSecs, t % 1e6),
    ]);
  }

  /** The switch drops or restores this server's CTI link (the switch side changes at once). */
  setLink(up: boolean): void {
    if (!this.alive || this.linkUp === up) return;
    this.linkUp = up;
    // Back up: the server gets every event after the switch's current one, so that is its position.
    const pos = up ? this.world.switchSeq - this.base : -1;
    // A hung server learns of it only after reading what its link delivered before.
    if (this.hung) this.backlog.push({ up, pos });
    else this.reportLink(up, pos);
  }

  private reportLink(up: boolean, pos: number): void {
    if (up) this.lastSeq = pos;
    const t = this.world.nowUs();
    const report = msg(up ? MessageType.EventLinkConnected : MessageType.EventLinkDisconnected, [
      long(Attr.EventSequenceNumber, this.lastSeq), int(Attr.TimeinSecs, Math.floor(t / 1e6)), int(Attr.TimeinuSecs, t % 1e6),
    ]);
    this.reportedLinkUp = up;
    for (const c of this.conns) c.toClient(report);
  }

  setRole(role: 0 | 1): void {
    if (this.role === role) return;
    this.role = role;
    this.world.onRoleChange?.();
    if (!this.alive) return;
    const m = msg(MessageType.EventPrimaryChanged, [int(Attr.ServerRole, role)]);
    for (const c of this.conns) c.toClient(m);
    // A demoted warm server closes its clients (docs/simulator.md).
    if (role === ServerRole.Backup && this.world.opts.mode === 'warm') {
      this.notePeerClose();
      for (const c of [...this.conns]) c.serverClose('peer-closed');
    }
  }

  /**
   * This server is about to close client connections itself: the only way it can answer one of our
   * connection attempts with a failure (what a breaker counts; refusals and silence it does not).
   */
  private notePeerClose(): void {
    if (this.conns.size > 0) this.world.peerCloses[this.name].push(Date.now());
  }

  /** The server writes garbage: each client closes its connection with a protocol error. */
  garbage(): void {
    if (!this.responsive) return;
    this.notePeerClose();
    for (const c of [...this.conns]) c.serverClose('protocol-error');
  }

  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    this.hung = false;
    this.silent = false;
    this.backlog = [];
    this.notePeerClose();
    for (const c of [...this.conns]) c.serverClose(this.world.opts.rng() < 0.5 ? 'peer-closed' : 'peer-reset');
  }

  /**
   * The numbering restarts in place, as at a wrap: open sessions stay and see the numbers go back (the next
   * event is 1); new sessions are told a new label. A hung server renumbers nothing (its backlog was
   * numbered when it was read). Nor does a server with a session that has been told no number above 0, or
   * whose CTI link is down (it would come back at a position that may look like a continuation): its next
   * numbers could look like a continuation to any client — a restart no one can see, which is the server
   * breaking its label's promise, not something a client could get right.
   */
  renumber(): void {
    if (!this.alive || this.hung || !this.linkUp) return;
    if ([...this.conns].some((c) => c.toldSeq < 1)) return;
    for (const c of this.conns) c.toldAtRenumber = c.toldSeq;
    this.label = `${this.name}${this.incarnation}w${++this.renumbers}-${Math.floor(this.world.opts.rng() * 1e8).toString(16)}`;
    this.base = this.world.switchSeq;
    this.world.bases.set(this.label, this.base);
    this.lastSeq = 0;
  }

  /** A new process: keeps its numbering, or (`resetSeq`) starts a new one whose first event is 1. */
  restart(resetSeq: boolean): void {
    this.kill();
    this.alive = true;
    this.incarnation++;
    this.linkUp = true;
    this.reportedLinkUp = true;
    this.refusing = false;
    this.latencyMs = 0;
    this.dupReplies = false;
    if (resetSeq) {
      this.label = `${this.name}${this.incarnation}-${Math.floor(this.world.opts.rng() * 1e8).toString(16)}`;
      this.base = this.world.switchSeq;
      this.world.bases.set(this.label, this.base);
    }
    this.lastSeq = this.world.switchSeq - this.base;
    const other = this.world.other(this);
    this.role = other.alive && other.role === ServerRole.Primary ? ServerRole.Backup : ServerRole.Primary;
  }
}

export class World {
  readonly servers: Record<ServerName, SimServer>;
  /** Every event the switch emitted, in order. */
  readonly oracle: SwitchEvent[] = [];
  /** Base of every numbering label ever used: seq + base = switch number. */
  readonly bases = new Map<string, number>();
  /** RequestRouteCall receipts by the request's identity (its OtherDN): a non-idempotent one arrives at most once. */
  readonly receipts = new Map<string, number>();
  /** Receipts acted on (passed to the switch: not refused as backup or link down), by request identity. */
  readonly executions = new Map<string, number>();
  /** Requests whose call the switch routed (once: later routes for it are refused with 1202). */
  readonly routed = new Set<string>();
  /** Every RequestRouteCall a server read, in order, with the connection it came on. */
  /** Every RequestRouteCall a server read, in order; `refused`: answered 1002/1003 (nothing ran). */
  readonly routeLog: { id: string; server: ServerName; conn: number; at: number; refused: boolean }[] = [];
  switchSeq = 0;
  connections = 0;
  /**
   * A session was told, as its first number after an in-place renumbering, one above the last it had (events
   * for other DNs came first): that history holds a restart no client could see, so it is not judged.
   */
  invisibleRenumber = false;
  /** When each server closed client connections itself (killed, garbage, a warm demotion): see notePeerClose. */
  readonly peerCloses: Record<ServerName, number[]> = { A: [], B: [] };
  /** Called whenever a server's role changes (promotions on the management role's timer included). */
  onRoleChange: (() => void) | undefined;
  private lastUs = 0;
  private promotion: NodeJS.Timeout | undefined;

  constructor(readonly opts: WorldOptions) {
    const label = `sw-${Math.floor(opts.rng() * 1e8).toString(16)}`;
    this.bases.set(label, 0);
    this.servers = { A: new SimServer('A', this, ServerRole.Primary, label), B: new SimServer('B', this, ServerRole.Backup, label) };
  }

  /** The switch's clock in µs: strictly increasing, or (coarseTime) the millisecond, shared by many events. */
  nowUs(): number {
    this.lastUs = this.opts.coarseTime ? Date.now() * 1000 : Math.max(this.lastUs + 1, Date.now() * 1000);
    return this.lastUs;
  }

  other(s: SimServer): SimServer {
    return s.name === 'A' ? this.servers.B : this.servers.A;
  }

  primary(): SimServer | undefined {
    return [this.servers.A, this.servers.B].find((s) => s.alive && s.role === ServerRole.Primary);
  }

  /** The switch emits `n` events on random DNs, to every server with a live link. */
  emit(n: number): void {
    for (let i = 0; i < n; i++) {
      const ev: SwitchEvent = {
        sw: ++this.switchSeq,
        dn: this.opts.dns[Math.floor(this.opts.rng() * this.opts.dns.length)]!,
        type: CALL_EVENTS[Math.floor(this.opts.rng() * CALL_EVENTS.length)]!,
        timeUs: this.nowUs(),
      };
      this.oracle.push(ev);
      this.servers.A.fromSwitch(ev);
      this.servers.B.fromSwitch(ev);
    }
  }

  /** The management role: after a primary failure, wait, re-check, promote the backup (SCS-like). */
  watch(): void {
    if (!this.opts.autoPromote || this.promotion) return;
    const p = [this.servers.A, this.servers.B].find((s) => s.role === ServerRole.Primary);
    if (p && p.responsive) return;
    this.promotion = setTimeout(() => {
      this.promotion = undefined;
      const cur = [this.servers.A, this.servers.B].find((s) => s.role === ServerRole.Primary && s.responsive);
      if (cur) return;
      const next = [this.servers.A, this.servers.B].find((s) => s.responsive && s.role === ServerRole.Backup);
      if (!next) return this.watch();
      const old = this.other(next);
      next.setRole(ServerRole.Primary);
      old.setRole(ServerRole.Backup);
    }, this.opts.promotionDelayMs);
  }

  /** Operator switchover: roles swap on both (each tells its clients). */
  switchover(): void {
    const { A, B } = this.servers;
    const [p, b] = A.role === ServerRole.Primary ? [A, B] : [B, A];
    b.setRole(ServerRole.Primary);
    p.setRole(ServerRole.Backup);
  }

  /** Find the server listening on `port`. */
  serverAt(port: number): SimServer | undefined {
    return port === 1 ? this.servers.A : port === 2 ? this.servers.B : undefined;
  }
}


function strOf(f: MessageFrame, id: number): string {
  const a = f.attributes.find((x) => x.id === id);
  return typeof a?.value === 'string' ? a.value : '';
}
