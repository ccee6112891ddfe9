import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { ResolvedPairOptions } from '../config.js';

/** opossum's rolling window is cut into this many buckets (its default). */
const BUCKETS = 10;

/**
 * Failed attempts that got no answer from a server: nothing listens (refused), no route or address, or
 * the server stayed silent until a deadline (connect timeout, ADDP timeout or handshake deadline during
 * the attempt: a crashed host, a stopped or hung process) — as opposed to a server that answered and
 * failed the attempt (closed or reset the connection during the handshake, an EventError, a malformed
 * reply, a TLS failure).
 *
 * Why the breaker does not count them. An absent server is not hurt by attempts (a SYN answered by the
 * kernel's RST, or by nobody), and a silent one limits them itself: each waits out its deadline, one at a
 * time. And the first such attempt that succeeds is how the pair learns the server is back, so it must
 * run at the reconnect schedule's cadence. When the breaker counted them, every outage longer than ~5
 * fast-phase attempts (a quarter second) opened it, and a restarted server was connected again only at
 * the re-probe, 5–15 s later (measured: 10.4, 15.0, 10.8 s after a ~1 s restart; bench/redundancy.ts);
 * a stopped server (SIGSTOP: each attempt ends in an ADDP timeout) tripped it within ~3 s the same way.
 * The schedule (lib/pair/supervisor.ts) bounds and jitters the attempt rate at such a server; the
 * breaker bounds the rate at a server that answers every attempt with a failure — fast, so the schedule
 * alone would let each client open a session on it every 50–100 ms.
 */
export function noAnswer(err: unknown): boolean {
  const e = err as { code?: unknown; syscallCode?: unknown; message?: unknown; cause?: { code?: unknown } } | null;
  if (!e) return false;
  if (e.code === 'ERR_CONNECT_REFUSED' || e.code === 'ERR_CONNECT_TIMEOUT' || e.code === 'ERR_ADDP_TIMEOUT') return true;
  // A handshake the server never answered (the endpoint says so: its deadline or its heartbeat ended it).
  if (e.code === 'ERR_HANDSHAKE') return (e as { unanswered?: unknown }).unanswered === true;
  if (e.code !== 'ERR_SOCKET') return false;
  const sys = typeof e.syscallCode === 'string' ? e.syscallCode : e.cause?.code;
  return typeof sys === 'string' && NO_ROUTE.has(sys);
}

/** Socket errors of a connect that reached no server. */
const NO_ROUTE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * One opossum breaker per endpoint, guarding connection attempts.
 *
 * - It counts only attempts a server answered with a failure ({@link noAnswer}: refusals and timeouts go
 *   to opossum's `errorFilter`, which records them as non-failures — and a half-open probe that meets
 *   one closes the breaker: the schedule paces that server again). So an outage — a crash and restart, a
 *   stopped process, a network cut — never opens it, and a server that comes back is connected again
 *   within one schedule delay (50–100 ms in the first 3 s after the loss). A server that answers and
 *   fails (resets during the handshake, refuses registration, sends garbage) opens it after
 *   `volumeThreshold` such attempts at > `errorThresholdPercentage`; while open, attempts fail at once
 *   without touching the network, and one probe goes through after the jittered `resetTimeoutMs`.
 * - volumeThreshold > 0 (a single failure must not trip it), and a jittered re-probe delay (a fixed
 *   resetTimeout makes every client of a recovering server probe it at the same instant).
 * - Free while nothing happens: no snapshots (opossum's per-second stats event, which sorts latencies),
 *   no rolling percentiles, and the rolling window rotates on a timer that runs only while the breaker
 *   has been fired within the last window (a `rotateBucketController` of its own). An idle connected
 *   endpoint keeps no timer at all (opossum's defaults keep two intervals per breaker: measured 6.3 % →
 *   3.6 % main thread for 500 idle pairs when breakers were disabled).
 */
export function createBreaker<T>(action: () => Promise<T>, opts: Exclude<ResolvedPairOptions['breaker'], false>, name: string): CircuitBreaker<[], T> {
  const jittered = () => Math.round(opts.resetTimeoutMs * (0.5 + Math.random()));
  const bucketMs = Math.max(1, Math.floor(opts.rollingWindowMs / BUCKETS));
  const rotation = new EventEmitter();
  let rotating: ReturnType<typeof setInterval> | undefined;
  let quietTicks = 0;
  const stopRotating = () => {
    if (rotating) clearInterval(rotating);
    rotating = undefined;
  };
  const breaker = new CircuitBreaker(action, {
    name,
    timeout: false, // attempts carry their own connect and handshake deadlines
    errorThresholdPercentage: opts.errorThresholdPercentage,
    volumeThreshold: opts.volumeThreshold,
    resetTimeout: jittered(),
    rollingCountTimeout: opts.rollingWindowMs,
    rollingCountBuckets: BUCKETS,
    rollingPercentilesEnabled: false,
    enableSnapshots: false,
    rotateBucketController: rotation,
    errorFilter: noAnswer,
  });
  // The window rotates while there is something in it: every fire and every outcome (an attempt can
  // outlast the window) (re)starts the timer, which stops once a whole window has passed without either
  // (every bucket is empty then, so the counts stay exact).
  const touch = () => {
    quietTicks = 0;
    if (rotating || breaker.isShutdown) return;
    rotating = setInterval(() => {
      rotation.emit('rotate');
      if (++quietTicks > BUCKETS) stopRotating();
    }, bucketMs);
    rotating.unref?.();
  };
  breaker.on('fire', touch);
  breaker.on('success', touch);
  breaker.on('failure', touch);
  breaker.on('shutdown', stopRotating);
  // opossum reads options.resetTimeout when its reset timer starts (on 'open', before this listener
  // runs), so re-drawing here jitters the next opening.
  breaker.on('open', () => {
    (breaker as unknown as { options: { resetTimeout: number } }).options.resetTimeout = jittered();
  });
  return breaker;
}
