import { serverChannel } from '../diagnostics.js';
import type { EndpointName, SessionInfo } from '../endpoint/endpoint.js';
import type { MessageFrame } from '../protocol/types.js';
import type { CloseInfo } from '../transport/types.js';
import { listToObject } from '../protocol/message.js';
import { linkEvent, type DisconnectReason, type PairEvents } from './events.js';

/** How the pair hands an event to its outbox. */
export type Publish = <K extends keyof PairEvents>(name: K, payload: PairEvents[K][0]) => void;

/**
 * The four events of the seed (EventServerConnected/Disconnected, EventLinkConnected/Disconnected), built
 * with exactly its attributes and emitted only when the state they report changes: a link report that
 * repeats the known state emits nothing, and a lost connection makes the link state unknown again, so the
 * next session reports it anew (as Genesys does in reply to an open).
 */
export class ServerEvents {
  private readonly link: Record<EndpointName, 'up' | 'down' | 'unknown'> = { primary: 'unknown', backup: 'unknown' };

  constructor(
    private readonly server: string,
    private readonly publish: Publish,
  ) {}

  connected(ep: EndpointName, s: SessionInfo, at: number): void {
    this.publish('EventServerConnected', {
      Event: 'EventServerConnected', Server: this.server, source: ep, timestamp: at, role: s.role,
      ...(s.extensions ? { Extensions: listToObject(s.extensions) } : {}),
    });
    serverChannel.publish({ pair: this.server, endpoint: ep, connected: true, at });
    if (s.linkFrame) this.linkReport(ep, s.link === 'up', s.linkFrame, at);
  }

  disconnected(ep: EndpointName, info: CloseInfo, reason: DisconnectReason, at: number): void {
    this.link[ep] = 'unknown';
    this.publish('EventServerDisconnected', {
      Event: 'EventServerDisconnected', Server: this.server, source: ep, timestamp: at, reason,
      ...(info.error ? { error: info.error } : {}),
    });
    serverChannel.publish({ pair: this.server, endpoint: ep, connected: false, at, reason });
  }

  linkReport(ep: EndpointName, up: boolean, frame: MessageFrame, at: number): void {
    const state = up ? 'up' : 'down';
    if (this.link[ep] === state) return;
    this.link[ep] = state;
    const e = linkEvent(this.server, ep, up, frame, at);
    if (e.Event === 'EventLinkConnected') this.publish('EventLinkConnected', e);
    else this.publish('EventLinkDisconnected', e);
  }
}
