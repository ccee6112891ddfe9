/**
 * The HA link between the two T-Servers: hello, "backup ready" → snapshot → "sync done", then
 * registration and routing updates from the primary, heartbeats both ways. The backup opens it.
 */
import net from 'node:net';
import { once } from 'node:events';
import { Attr, FrameDecoder, ServerRole, ValueType, encodeMessage, getAttr, type KVPair } from '../protocol/index.js';
import { toParent } from './child.js';
import { Private } from './frames.js';
import type { TServer } from './tserver.js';

const HEARTBEAT_MS = 200;

export class HaLink {
  private socket: net.Socket | undefined;
  private lastHeard = 0;
  private silent = false;
  private reconnect: NodeJS.Timeout | undefined;
  /** ConnIDs the primary routed before our CTI link showed us the call. */
  readonly preRouted = new Set<bigint>();

  constructor(private readonly ts: TServer) {}

  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** Listen for the peer; resolves once every HA listener is bound. */
  start(): Promise<void> {
    const bound: Promise<unknown>[] = [];
    for (const host of [this.ts.cfg.host, ...this.ts.cfg.extraHaHosts]) {
      const l = net.createServer((s) => this.attach(s));
      l.on('error', (err) => {
        process.stderr.write(`tserver ${this.ts.cfg.name}: HA listener on ${host}: ${err.message}\n`);
        process.exit(1);
      });
      bound.push(once(l, 'listening'));
      l.listen({ host, port: this.ts.cfg.haPort });
    }
    setInterval(() => this.beat(), HEARTBEAT_MS).unref();
    if (this.ts.role === ServerRole.Backup) this.connect();
    return Promise.all(bound).then(() => {});
  }

  private connect(): void {
    // A silent server neither opens nor accepts connections: it is cut off.
    if (this.socket || this.reconnect || this.silent) return;
    const s = net.connect({ host: this.ts.cfg.peerHaHost, port: this.ts.cfg.peerHaPort });
    s.on('connect', () => this.attach(s));
    s.on('error', () => {
      if (this.socket !== s) this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.reconnect || this.socket || this.ts.role !== ServerRole.Backup) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.connect();
    }, 250);
  }

  private attach(s: net.Socket): void {
    if (this.silent) {
      s.destroy();
      return;
    }
    if (this.socket && this.socket !== s) this.socket.destroy();
    this.socket = s;
    this.lastHeard = Date.now();
    s.setNoDelay(true);
    const decoder = new FrameDecoder();
    s.on('data', (chunk) => {
      this.lastHeard = Date.now();
      try {
        decoder.write(chunk, (f) => {
          if (f.kind === 1) this.onMessage(f.type, f);
        });
      } catch {
        s.destroy();
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      if (!this.silent) toParent({ t: 'event', event: 'peer-lost', server: this.ts.cfg.name, reason: 'HA link closed' });
      // Try again at once (a backup must not look cut off for longer than it is), then every 250 ms.
      if (this.ts.role === ServerRole.Backup) this.connect();
    });
    this.send(Private.HaHello, { ApplicationName: this.ts.cfg.name, ServerRole: this.ts.role });
    if (this.ts.role === ServerRole.Backup && this.ts.mode === 'hot') this.send(Private.HaBackupReady, {});
    toParent({ t: 'event', event: 'peer-connected', server: this.ts.cfg.name });
  }

  private send(type: number, attrs: Parameters<typeof encodeMessage>[1]): void {
    if (this.socket && !this.silent) this.socket.write(encodeMessage(type, attrs));
  }

  private beat(): void {
    if (!this.socket || this.silent) return;
    if (Date.now() - this.lastHeard > this.ts.cfg.haTimeoutMs) {
      const s = this.socket;
      this.socket = undefined;
      s.destroy();
      toParent({ t: 'event', event: 'peer-lost', server: this.ts.cfg.name, reason: `HA link silent for ${this.ts.cfg.haTimeoutMs} ms` });
      this.scheduleReconnect();
      return;
    }
    this.send(Private.HaHeartbeat, {});
  }

  private onMessage(type: number, f: Parameters<typeof getAttr>[0]): void {
    const ts = this.ts;
    const primary = ts.role === ServerRole.Primary;
    switch (type) {
      case Private.HaBackupReady:
        if (primary && ts.mode === 'hot') this.sendSnapshot();
        return;
      case Private.HaSnapshot: {
        if (primary) return;
        ts.syncedRegs.clear();
        for (const p of (getAttr(f, Attr.UserData) as KVPair[] | undefined) ?? []) {
          ts.syncedRegs.set(p.key, new Set(String(p.value).split(',').filter(Boolean)));
        }
        const routed = String(getAttr(f, Attr.Reason) ?? '');
        for (const c of routed.split(',').filter(Boolean)) this.markRouted(BigInt(c));
        return;
      }
      case Private.HaSyncDone:
        if (primary) return;
        ts.syncDone = true;
        ts.announceLink();
        toParent({ t: 'event', event: 'sync-done', server: ts.cfg.name });
        return;
      case Private.HaRegistration: {
        if (primary) return;
        const app = String(getAttr(f, Attr.ApplicationName) ?? '');
        const dn = String(getAttr(f, Attr.ThisDN) ?? '');
        let set = ts.syncedRegs.get(app);
        if (!set) ts.syncedRegs.set(app, (set = new Set()));
        if (getAttr(f, Attr.RegisterMode) === 1) set.add(dn);
        else set.delete(dn);
        return;
      }
      case Private.HaRouted:
        if (!primary) this.markRouted(BigInt(getAttr(f, Attr.ConnID) as bigint));
        return;
      default:
        return;
    }
  }

  private markRouted(connId: bigint): void {
    const call = this.ts.calls.get(connId);
    if (call) call.routed = true;
    else {
      if (this.preRouted.size > 100_000) this.preRouted.clear();
      this.preRouted.add(connId);
    }
  }

  private sendSnapshot(): void {
    const regs = this.ts.registrationsByApp();
    const list: KVPair[] = [...regs].map(([app, dns]) => ({ key: app, type: ValueType.String, value: [...dns].join(',') }));
    const routed = [...this.ts.calls].filter(([, c]) => c.routed).map(([id]) => String(id));
    this.send(Private.HaSnapshot, { UserData: list, Reason: routed.join(',') });
    this.send(Private.HaSyncDone, {});
  }

  sendRegistration(app: string, dn: string, add: boolean): void {
    if (this.ts.mode === 'hot') this.send(Private.HaRegistration, { ApplicationName: app, ThisDN: dn, RegisterMode: add ? 1 : 0 });
  }

  sendRouted(connId: bigint): void {
    if (this.ts.mode === 'hot') this.send(Private.HaRouted, { ConnID: connId });
  }

  /** Called when this server is demoted: ask the new primary for a full sync. */
  onBecameBackup(): void {
    if (this.socket) {
      if (this.ts.mode === 'hot') this.send(Private.HaBackupReady, {});
    } else this.connect();
  }

  setSilent(on: boolean): void {
    this.silent = on;
    if (on) this.socket?.pause();
    else {
      this.socket?.resume();
      this.lastHeard = Date.now();
      if (!this.socket && this.ts.role === ServerRole.Backup) this.connect();
    }
  }
}
