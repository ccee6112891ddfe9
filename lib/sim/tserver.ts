/**
 * A simulated T-Server process: CTI link to the switch, HA link to its peer, client sessions, and the
 * faults that can be injected into it.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  Attr,
  MessageType,
  ServerRole,
  decodeBody,
  encodeMessage,
  getAttr,
  resolveLimits,
  type AttributeInput,
  type MessageFrame,
} from '../protocol/index.js';
import { toParent } from './child.js';
import { Private, addressInfoAnswer, readEventHead, referenceOf, registeredAnswer, serverInfoAnswer, writeEventSeq, type ServerFacts } from './frames.js';
import { HaLink } from './ha-link.js';
import { Session, SimErrorCode, addpFromExtensions, type SessionHost } from './session.js';

/** T-Server configuration (passed by the parent as JSON). */
export interface TServerConfig {
  name: 'A' | 'B';
  host: string;
  clientPort: number;
  haPort: number;
  peerHaPort: number;
  switchPort: number;
  /** Where the switch and the peer's HA port are reached (differs from `host` inside a namespace). */
  switchHost: string;
  peerHaHost: string;
  /** More addresses for the HA listener (so a peer in a namespace can reach us). */
  extraHaHosts: string[];
  role: 0 | 1;
  mode: 'hot' | 'warm';
  addpEnforce: boolean;
  dir: string;
  maxFrameSize: number;
  clientBufferLimit: number;
  haTimeoutMs: number;
  /** Label of this process's numbering (EventServerInfo Extensions `seq-epoch`). */
  seqLabel: string;
  /**
   * Switch seq of position 0 in that numbering (switch seq `s` is forwarded as `s - base`); null = a
   * sequence reset: the switch's last seq at this process's first CTI link-up (docs/simulator.md).
   */
  seqBase: number | null;
  /**
   * TLS on the client port (PEM key and certificate), or absent for plaintext. Given to the child in its
   * environment (ChildHandle's secrets), not in this JSON: a key on the command line is readable by anyone.
   */
  tls?: { key: string; cert: string };
}

/** ServerVersion the simulator reports. */
export const SIM_SERVER_VERSION = '8.5.000.sim';

interface Call {
  dn: string;
  routed: boolean;
}

/** A RequestRouteCall forwarded to the switch, waiting for its CtiRouteResult. */
interface PendingRoute {
  session: Session;
  ref: number | undefined;
  connId: bigint;
  otherDN: string;
}

const LIMITS = resolveLimits({ maxFrameSize: 16 * 1024 * 1024 });

export class TServer implements SessionHost {
  role: 0 | 1;
  silent = false;
  latencyMs = 0;
  /** Fault: a route's answer leaves this much later (the route itself is acted on at once). */
  routeReplyLatencyMs = 0;
  refusing = false;
  /** Fault: every reply goes out twice with the same ReferenceID. */
  duplicateReplies = false;
  readonly addpEnforce: boolean;
  readonly clientBufferLimit: number;
  private ctiUp = false;
  private ctiSocket: net.Socket | undefined;
  private ctiTail: Buffer | null = null;
  /** Last switch seq received on the CTI link (switch numbering; clients see {@link position}). */
  lastSeq: number;
  /** Switch seq the switch reported at the last CTI link-up: every event after it reaches us. */
  private upSeq: number;
  /** `lastSeq` when the CTI link last dropped (or at start): we had every event up to it. */
  private downSeq: number;
  private readonly seqLabel: string;
  /** Base of our numbering; null until the first link-up after a sequence reset. */
  private seqBase: number | null;
  syncDone = false;
  private readonly sessionId = randomBytes(8).readBigInt64BE() & 0x7fffffffffffffffn;
  private readonly startTime = Math.floor(Date.now() / 1000);
  private readonly sessions = new Set<Session>();
  private readonly dnIndex = new Map<string, Set<Session>>();
  private readonly dirty = new Set<Session>();
  readonly calls = new Map<bigint, Call>();
  /** Routes forwarded to the switch, by token. */
  private readonly pendingRoutes = new Map<number, PendingRoute>();
  private routeToken = 0;
  /** Warm standby: ConnID of the last EventRouteRequest seen on the CTI link (tracked or not). */
  private lastRouteRequestConnId = 0n;
  /**
   * Warm standby: calls with a ConnID up to this began before this server became primary — it never
   * tracked them ("calls in progress are lost at a warm switchover"): a route on one gets 1203.
   */
  private lostBelowConnId = -1n;
  readonly syncedRegs = new Map<string, Set<string>>();
  private listener: net.Server | undefined;
  private readonly runs: [number, number][] = [];
  private runsChanged = false;
  readonly ha: HaLink;

  constructor(readonly cfg: TServerConfig) {
    this.role = cfg.role;
    this.addpEnforce = cfg.addpEnforce;
    this.clientBufferLimit = cfg.clientBufferLimit;
    this.ha = new HaLink(this);
    this.seqLabel = cfg.seqLabel;
    this.seqBase = cfg.seqBase;
    // A fresh process has nothing; in its numbering that is position 0.
    this.lastSeq = this.upSeq = this.downSeq = cfg.seqBase ?? 0;
  }

  /** `seq` (switch numbering) in this server's numbering: what clients see. 0 while the base is unknown. */
  position(seq: number): number {
    return this.seqBase === null ? 0 : seq - this.seqBase;
  }

  get mode() {
    return this.cfg.mode;
  }

  /** Clients are served by a primary, and by a backup only in hot standby. */
  get serving(): boolean {
    return this.role === ServerRole.Primary || this.cfg.mode === 'hot';
  }

  /** Calls are tracked by a primary and a hot backup; a warm backup knows nothing of them. */
  private get tracking(): boolean {
    return this.serving;
  }

  /** Link state as clients see it: a hot backup reports the link only after "sync done". */
  get linkReported(): boolean {
    return this.ctiUp && (this.role === ServerRole.Primary || this.syncDone || !this.ha.connected);
  }

  /**
   * Start serving; resolves once the HA port and — when this server serves clients now — the client port
   * are bound. A port another process took between the parent's probe and this bind rejects (the parent
   * then starts the simulation again on new ports). A warm backup binds its client port only when it is
   * promoted, and later binds (promotion, the end of a refusal fault) retry instead.
   */
  start(): Promise<void> {
    if (this.seqBase !== null) this.reportNumbering();
    this.connectCti();
    const ha = this.ha.start();
    this.updateListener();
    const l = this.listener;
    const client = l
      ? new Promise<void>((resolve, reject) => {
          l.once('listening', resolve);
          l.once('error', reject);
        })
      : Promise.resolve();
    setInterval(() => this.writeRuns(), 200).unref();
    return Promise.all([ha, client]).then(() => {});
  }

  // ---- CTI link ----------------------------------------------------------------------------------

  private connectCti(): void {
    const s = net.connect({ host: this.cfg.switchHost, port: this.cfg.switchPort });
    this.ctiSocket = s;
    s.setNoDelay(true);
    s.on('connect', () => s.write(encodeMessage(Private.CtiHello, { ApplicationName: this.cfg.name })));
    s.on('data', (chunk) => this.onCti(chunk));
    s.on('error', () => {});
    s.on('close', () => {
      this.ctiTail = null;
      this.failPendingRoutes();
      if (this.ctiUp) {
        this.ctiUp = false;
        this.downSeq = this.lastSeq;
        this.announceLink();
        toParent({ t: 'event', event: 'cti-down', server: this.cfg.name, seq: this.lastSeq, position: this.position(this.lastSeq) });
      }
      setTimeout(() => this.connectCti(), 100);
    });
  }

  private onCti(chunk: Buffer): void {
    let buf = chunk;
    if (this.ctiTail) {
      buf = Buffer.concat([this.ctiTail, chunk]);
      this.ctiTail = null;
    }
    let pos = 0;
    const mark = this.role === ServerRole.Backup;
    const serving = this.serving;
    const tracking = this.tracking;
    // What clients get: `buf` itself in the switch's numbering (base 0, no copy), else one copy of this
    // read with every event's seq rewritten (made at the first event; never per client).
    let fwd: Buffer | undefined;
    while (buf.length - pos >= 4) {
      const len = buf.readUInt32BE(pos);
      const end = pos + 4 + len;
      if (end > buf.length) break;
      const head = readEventHead(buf, pos, end);
      if (head) {
        this.lastSeq = head.seq;
        this.noteRun(head.seq);
        const base = this.seqBase ?? 0;
        let out = buf;
        if (base !== 0 && serving) {
          fwd ??= Buffer.from(buf);
          writeEventSeq(fwd, pos, head.seq - base);
          out = fwd;
        }
        if (!tracking && head.type === MessageType.EventRouteRequest) this.lastRouteRequestConnId = buf.readBigInt64BE(head.connIdAt);
        if (tracking) {
          if (head.type === MessageType.EventRouteRequest) {
            const connId = buf.readBigInt64BE(head.connIdAt);
            this.calls.set(connId, { dn: head.dn, routed: this.ha.preRouted.size > 0 && this.ha.preRouted.delete(connId) });
          } else if (head.type === MessageType.EventReleased) this.calls.delete(buf.readBigInt64BE(head.connIdAt));
        }
        if (serving) {
          const subs = this.dnIndex.get(head.dn);
          if (subs) {
            for (const s of subs) {
              if (mark) s.out.pushMarked(out, pos, end);
              else s.out.push(out, pos, end);
              this.dirty.add(s);
            }
          }
        }
      } else {
        let f;
        try {
          f = decodeBody(buf, pos + 4, end, LIMITS, pos);
        } catch (err) {
          // The switch is ours, so this is a bug; drop the link (it reconnects) rather than the process.
          process.stderr.write(`tserver ${this.cfg.name}: bad CTI frame: ${(err as Error).message}\n`);
          this.ctiTail = null;
          this.ctiSocket?.destroy();
          return;
        }
        if (f.kind === 1 && f.type === Private.CtiRouteResult) {
          this.onRouteResult(Number(getAttr(f, Attr.ReferenceID) ?? 0), Number(getAttr(f, Attr.ErrorCode) ?? 0), String(getAttr(f, Attr.ThisDN) ?? ''));
        } else if (f.kind === 1 && f.type === Private.CtiLinkUp) {
          // The switch's last emitted seq, written in the same turn as it starts sending us its events:
          // exactly the events after it follow.
          const seq = Number(getAttr(f, Attr.EventSequenceNumber) ?? 0);
          this.lastSeq = this.upSeq = seq;
          if (this.seqBase === null) {
            // A sequence reset: our numbering starts here, so the first event we forward is 1.
            this.seqBase = seq;
            this.reportNumbering();
          }
          this.ctiUp = true;
          this.announceLink();
          toParent({ t: 'event', event: 'cti-up', server: this.cfg.name, seq, position: this.position(seq) });
        }
      }
      pos = end;
    }
    if (pos < buf.length) this.ctiTail = Buffer.from(buf.subarray(pos));
    this.flushDirty();
  }

  private reportNumbering(): void {
    toParent({ t: 'event', event: 'numbering', server: this.cfg.name, label: this.seqLabel, base: this.seqBase });
  }

  private noteRun(seq: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last && last[1] === seq - 1) last[1] = seq;
    else this.runs.push([seq, seq]);
    this.runsChanged = true;
  }

  /** The seqs this server received on its CTI link, as [from, to] runs (docs/simulator.md). */
  writeRuns(): void {
    if (!this.runsChanged) return;
    this.runsChanged = false;
    writeFileSync(join(this.cfg.dir, `cti-${this.cfg.name}.json`), JSON.stringify(this.runs));
  }

  // ---- clients -----------------------------------------------------------------------------------

  markDirty(s: Session): void {
    if (this.dirty.size === 0) setImmediate(() => this.flushDirty());
    this.dirty.add(s);
  }

  private flushDirty(): void {
    for (const s of this.dirty) s.flush();
    this.dirty.clear();
  }

  /**
   * The link report for the current state, with its position (our numbering; docs/simulator.md, "Link
   * positions"): EventLinkDisconnected — we had every event up to it (the last one before the link
   * dropped); EventLinkConnected — every event after it reaches us (the switch's last seq at link-up).
   * At the handshake a reported link carries our last seq instead: the client starts there. A hot backup
   * whose link is up but not yet reported (sync pending) says Disconnected at its link-up position, so the
   * later Connected (same position) shows nothing missed.
   */
  private linkEvent(handshake: boolean): { up: boolean; seq: number; type: number; attrs: AttributeInput } {
    const now = Date.now();
    const common = {
      ApplicationName: `tserver-${this.cfg.name}`,
      SessionID: this.sessionId,
      TimeinSecs: Math.floor(now / 1000),
      TimeinuSecs: (now % 1000) * 1000,
    };
    if (this.linkReported) {
      const seq = this.position(handshake ? this.lastSeq : this.upSeq);
      return { up: true, seq, type: MessageType.EventLinkConnected, attrs: { ...common, EventSequenceNumber: BigInt(seq) } };
    }
    const seq = this.position(this.ctiUp ? this.upSeq : this.downSeq);
    return {
      up: false,
      seq,
      type: MessageType.EventLinkDisconnected,
      attrs: { ...common, ErrorCode: SimErrorCode.LinkDown, ErrorMessage: 'CTI link to the switch is down', EventSequenceNumber: BigInt(seq) },
    };
  }

  /** Send `s` the link report for the current state, and remember what it was told. */
  private sendLink(s: Session, handshake: boolean): void {
    const r = this.linkEvent(handshake);
    s.send(r.type, r.attrs);
    s.linkShown = { up: r.up, seq: r.seq };
  }

  /**
   * Tell registered clients about a change of the reported link state: a client is told only what differs
   * from what it was last told (a link drop always differs: its position moved). While a hot backup's link
   * is up but unreported (sync pending) there is nothing to tell: its clients keep the last report, whose
   * position stays exact.
   */
  announceLink(): void {
    if (!this.linkReported && this.ctiUp) return;
    const r = this.linkEvent(false);
    for (const s of this.sessions) {
      if (!s.registered) continue;
      const shown = s.linkShown;
      if (shown && shown.up === r.up && (r.up || shown.seq === r.seq)) continue;
      s.send(r.type, r.attrs);
      s.linkShown = { up: r.up, seq: r.seq };
    }
  }

  sessionClosed(s: Session, reason: string): void {
    this.sessions.delete(s);
    this.dirty.delete(s);
    for (const dn of s.dns) this.dnIndex.get(dn)?.delete(s);
    if (this.role === ServerRole.Primary && s.appName) for (const dn of s.dns) this.ha.sendRegistration(s.appName, dn, false);
    toParent({ t: 'event', event: 'client-closed', server: this.cfg.name, client: s.id, reason });
  }

  /** Who this server is, as its answers say it (frames.ts builds them for every peer). */
  private facts(): ServerFacts {
    return { role: this.role, version: SIM_SERVER_VERSION, sessionId: this.sessionId, startTime: this.startTime };
  }

  handleRequest(s: Session, f: MessageFrame): void {
    if (s.isClosed) return;
    const refAttr = referenceOf(f);
    if (f.type === MessageType.RequestRegisterClient) {
      s.registered = true;
      s.appName = String(getAttr(f, Attr.ApplicationName) ?? '');
      const addp = addpFromExtensions(f);
      s.startAddp(addp.remoteTimeout);
      s.send(MessageType.EventServerInfo, serverInfoAnswer(this.facts(), this.position(this.lastSeq), refAttr, {
        'addp-timeout': this.addpEnforce ? addp.remoteTimeout : 0, 'mode': this.cfg.mode, 'seq-epoch': this.seqLabel,
      }));
      this.sendLink(s, true);
      return;
    }
    if (!s.registered) return s.error(f, SimErrorCode.NotRegistered, 'client not registered: send RequestRegisterClient first');
    switch (f.type) {
      case MessageType.RequestRegisterAddress:
      case MessageType.RequestUnregisterAddress: {
        const dn = getAttr(f, Attr.ThisDN);
        if (typeof dn !== 'string' || dn === '') return s.error(f, SimErrorCode.MissingAttribute, 'ThisDN missing');
        const add = f.type === MessageType.RequestRegisterAddress;
        if (add) {
          s.dns.add(dn);
          let set = this.dnIndex.get(dn);
          if (!set) this.dnIndex.set(dn, (set = new Set()));
          set.add(s);
          s.send(MessageType.EventRegistered, registeredAnswer(dn, refAttr, this.position(this.lastSeq)));
        } else {
          s.dns.delete(dn);
          this.dnIndex.get(dn)?.delete(s);
          s.send(MessageType.EventUnregistered, { ThisDN: dn, ...refAttr });
        }
        if (this.role === ServerRole.Primary) this.ha.sendRegistration(s.appName, dn, add);
        return;
      }
      case MessageType.RequestQueryServer:
        return s.send(MessageType.EventAddressInfo, addressInfoAnswer(this.facts(), this.position(this.lastSeq), refAttr));
      case MessageType.RequestRouteCall: {
        if (this.role !== ServerRole.Primary) return s.error(f, SimErrorCode.BackupRefused, 'this server is the backup: send requests to the primary');
        if (!this.ctiUp) return s.error(f, SimErrorCode.LinkDown, 'CTI link to the switch is down');
        const connId = getAttr(f, Attr.ConnID);
        if (typeof connId !== 'bigint' && typeof connId !== 'number') return s.error(f, SimErrorCode.MissingAttribute, 'ConnID missing');
        const id = BigInt(connId);
        const call = this.calls.get(id);
        if (!call && id <= this.lostBelowConnId) {
          return s.error(f, SimErrorCode.CallLostInSwitchover, `call ${connId} began before this server became primary (warm standby: calls in progress are lost at a switchover)`);
        }
        // The switch decides, always: it alone knows whether a call left its route point by a request (1202)
        // or by its route timeout (1204) — a local answer could not tell the two apart for a client that
        // repeats a route after a failover. The call may also have reached its route timeout meanwhile, and a call this server
        // does not know yet (its EventRouteRequest is still on the way here, or came while our CTI link was
        // down) may well exist there. Ask it, answer then.
        const other = getAttr(f, Attr.OtherDN);
        const token = ++this.routeToken;
        this.pendingRoutes.set(token, { session: s, ref: refAttr.ReferenceID, connId: id, otherDN: typeof other === 'string' ? other : '' });
        this.ctiSocket!.write(encodeMessage(Private.CtiRoute, { ReferenceID: token, ConnID: id, OtherDN: typeof other === 'string' ? other : '' }));
        return;
      }
      default:
        return s.error(f, SimErrorCode.UnknownRequest, `unknown request type ${f.type}`);
    }
  }

  /** The switch answered a forwarded route: EventRouteUsed, or EventError with its code. */
  private onRouteResult(token: number, code: number, routePoint: string): void {
    const p = this.pendingRoutes.get(token);
    if (!p) return;
    this.pendingRoutes.delete(token);
    const call = this.calls.get(p.connId);
    if (code === 0 || code === SimErrorCode.CallAlreadyRouted) {
      if (call) call.routed = true;
      this.ha.sendRouted(p.connId);
    }
    if (this.routeReplyLatencyMs > 0) setTimeout(() => this.answerRoute(p, code, routePoint, call?.dn), this.routeReplyLatencyMs);
    else this.answerRoute(p, code, routePoint, call?.dn);
  }

  private answerRoute(p: PendingRoute, code: number, routePoint: string, callDn: string | undefined): void {
    if (p.session.isClosed) return;
    const refAttr = p.ref !== undefined ? { ReferenceID: p.ref } : {};
    if (code === 0) {
      p.session.send(MessageType.EventRouteUsed, { ThisDN: callDn ?? routePoint, ConnID: p.connId, OtherDN: p.otherDN, ...refAttr });
      return;
    }
    const message =
      code === SimErrorCode.CallAlreadyRouted ? `call ${p.connId} already routed`
      : code === SimErrorCode.RouteTimedOut ? `call ${p.connId} reached its route timeout and went to its default destination`
      : `call ${p.connId} not found (released, or never existed)`;
    p.session.send(MessageType.EventError, { ...refAttr, ErrorCode: code, ErrorMessage: message });
  }

  /**
   * The CTI link closed with routes in flight: the switch may or may not have acted on them. Not 1003 (which
   * says the request was refused before anything was done): 1205, so a client knows the outcome is open.
   */
  private failPendingRoutes(): void {
    for (const p of this.pendingRoutes.values()) {
      if (p.session.isClosed) continue;
      p.session.send(MessageType.EventError, {
        ...(p.ref !== undefined ? { ReferenceID: p.ref } : {}),
        ErrorCode: SimErrorCode.RouteOutcomeUnknown,
        ErrorMessage: 'CTI link to the switch went down with the route on its way: the switch may or may not have acted on it',
      });
    }
    this.pendingRoutes.clear();
  }

  /** Registered DNs per ApplicationName (what the HA snapshot carries). */
  registrationsByApp(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const s of this.sessions) {
      if (!s.registered) continue;
      let set = out.get(s.appName);
      if (!set) out.set(s.appName, (set = new Set()));
      for (const dn of s.dns) set.add(dn);
    }
    return out;
  }

  // ---- roles and faults ----------------------------------------------------------------------------

  private updateListener(): void {
    const want = this.serving && !this.refusing;
    if (want && !this.listener) {
      const accept = (sock: net.Socket) => {
        if (this.refusing) return sock.destroy();
        const s = new Session(sock, this, this.cfg.maxFrameSize);
        this.sessions.add(s);
      };
      // TLS: a session starts once the handshake is done (secureConnection); a client that fails it is
      // dropped by Node without reaching us. The CTI and HA links stay plaintext.
      const l: net.Server = this.cfg.tls ? tls.createServer({ key: this.cfg.tls.key, cert: this.cfg.tls.cert }, accept) : net.createServer(accept);
      if (this.cfg.tls) l.on('tlsClientError', () => {});
      this.listener = l;
      l.on('error', (err) => {
        // The port was ours a moment ago; it can be in TIME_WAIT churn. Try again shortly.
        if (this.listener === l) this.listener = undefined;
        toParent({ t: 'event', event: 'listen-error', server: this.cfg.name, message: err.message });
        setTimeout(() => this.updateListener(), 100);
      });
      l.listen({ host: this.cfg.host, port: this.cfg.clientPort, exclusive: true });
    } else if (!want && this.listener) {
      this.listener.close();
      this.listener = undefined;
    }
  }

  /** Become primary or backup (the management role decides; docs/simulator.md). */
  setRole(role: 0 | 1): void {
    if (role === this.role) return;
    this.role = role;
    if (role === ServerRole.Primary) {
      // Warm: tracking starts now; every call before it is lost to this server.
      if (this.cfg.mode === 'warm') this.lostBelowConnId = this.lastRouteRequestConnId;
      for (const s of this.sessions) {
        if (!s.registered) continue;
        s.send(MessageType.EventPrimaryChanged, { ServerRole: role });
        this.sendLink(s, false);
      }
    } else {
      this.syncDone = false;
      if (this.cfg.mode === 'warm') {
        // A warm backup serves nobody and knows no calls.
        for (const s of [...this.sessions]) s.close('demoted to warm backup');
        this.calls.clear();
      } else {
        for (const s of this.sessions) if (s.registered) s.send(MessageType.EventPrimaryChanged, { ServerRole: role });
      }
      this.ha.onBecameBackup();
    }
    this.updateListener();
    toParent({ t: 'event', event: 'role', server: this.cfg.name, role });
  }

  setSilent(on: boolean): void {
    this.silent = on;
    for (const s of this.sessions) {
      if (on) s.socket.pause();
      else s.socket.resume();
    }
    this.ha.setSilent(on);
    if (!on) this.flushDirty();
    if (!on) for (const s of this.sessions) s.flush();
  }

  setRefusing(on: boolean): void {
    this.refusing = on;
    this.updateListener();
  }

  /** Send a bad frame to every client (a server-side bug the client must survive). */
  sendMalformed(bad: Buffer): number {
    let n = 0;
    for (const s of this.sessions) {
      s.sendRaw(bad);
      n++;
    }
    return n;
  }

  status() {
    return {
      name: this.cfg.name,
      role: this.role,
      mode: this.cfg.mode,
      ctiUp: this.ctiUp,
      linkReported: this.linkReported,
      lastSeq: this.lastSeq,
      seqEpoch: this.seqLabel,
      seqBase: this.seqBase,
      position: this.position(this.lastSeq),
      syncDone: this.syncDone,
      haConnected: this.ha.connected,
      clients: [...this.sessions].map((s) => ({ id: s.id, app: s.appName, registered: s.registered, dns: s.dns.size })),
      syncedRegistrations: Object.fromEntries([...this.syncedRegs].map(([k, v]) => [k, [...v].sort()])),
      calls: this.calls.size,
      routedCalls: [...this.calls.values()].filter((c) => c.routed).length,
      silent: this.silent,
      latencyMs: this.latencyMs,
      duplicateReplies: this.duplicateReplies,
      refusing: this.refusing,
      listening: this.listener !== undefined,
    };
  }
}
