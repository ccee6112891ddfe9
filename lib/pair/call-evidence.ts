/**
 * What the event stream says about calls whose route requests are outstanding: where each call showed up
 * after it left its route point (the DN of its EventRinging / EventEstablished). In hot standby the new
 * source carries the switch's events for calls routed through the lost primary (its window fills the gap),
 * so by the time a repeated route is answered, the stream has told where the call went — the evidence that
 * resolves an answer like "call not found" (released, or routed and already ended) that proves nothing by
 * itself (docs/semantics.md, "Requests across a failover").
 *
 * Costs nothing while no route is outstanding; otherwise one Map lookup per call event of those two types.
 */
import { MessageType } from '../protocol/ids.js';

interface Watch {
  /** Outstanding requests on this call. */
  requests: number;
  /** DN where the call showed up, once seen. */
  arrivedAt: string | undefined;
}

/** An event as the evidence reads it. */
export interface CallEvent {
  readonly type: number;
  get(name: 'ConnID'): unknown;
  get(name: 'ThisDN'): unknown;
}

export class CallEvidence {
  private readonly calls = new Map<bigint, Watch>();

  /** Number of calls watched (bounded by the outstanding route requests). */
  get size(): number {
    return this.calls.size;
  }

  /** Start watching `connId` for one request; `unwatch` once it settles. */
  watch(connId: bigint): void {
    const w = this.calls.get(connId);
    if (w) w.requests++;
    else this.calls.set(connId, { requests: 1, arrivedAt: undefined });
  }

  unwatch(connId: bigint): void {
    const w = this.calls.get(connId);
    if (w && --w.requests <= 0) this.calls.delete(connId);
  }

  /** Read one delivered event (called only while something is watched). */
  see(e: CallEvent): void {
    if (e.type !== MessageType.EventRinging && e.type !== MessageType.EventEstablished) return;
    const id = e.get('ConnID');
    if (typeof id !== 'bigint') return;
    const w = this.calls.get(id);
    if (!w || w.arrivedAt !== undefined) return;
    const dn = e.get('ThisDN');
    if (typeof dn === 'string') w.arrivedAt = dn;
  }

  /** Where the call showed up after leaving its route point, if the stream said so. */
  arrivedAt(connId: bigint): string | undefined {
    return this.calls.get(connId)?.arrivedAt;
  }
}
