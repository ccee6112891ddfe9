/**
 * The failover benchmark's run against the real simulator: it must measure every column and find what the
 * pair promises (hot: nothing lost or repeated; warm: every loss inside a reported gap; no promise left
 * pending). Latencies are only checked for presence and sign, never against goals (that is the bench's job).
 */
import { describe, expect, it } from 'vitest';
import { runOnce, type RunConfig } from '../../bench/failover-run.js';
import { transportsUnderTest } from '../pair/transports.js';

const base: Omit<RunConfig, 'mode' | 'transport'> = {
  rate: 2000, fault: 'kill', addpMs: undefined, promotionDelayMs: 200, afterMs: 300,
  requestTimeoutMs: 1000, retry: undefined, breaker: true, stepTimeoutMs: 15_000,
};

describe.each(transportsUnderTest())('bench failover run (%s transport)', (transport) => {
  it('hot: measures every latency, loses and repeats nothing, settles every request', async () => {
    const r = await runOnce({ ...base, mode: 'hot', transport }, 0);
    expect(r.error).toBeNull();
    for (const k of ['detectMs', 'firstEventMs', 'promotionMs', 'overheadMs', 'readyMs'] as const) expect(r[k], k).not.toBeNull();
    expect(r.detectMs!).toBeGreaterThan(0);
    expect(r.overheadMs!).toBeGreaterThanOrEqual(0);
    expect(r.oracle.expected).toBeGreaterThan(0);
    expect(r.oracle.lostOutsideGap).toEqual([]);
    expect(r.oracle.lostInGap).toBe(0);
    expect(r.oracle.duplicated).toEqual([]);
    expect(r.requests.sent).toBeGreaterThan(0);
    expect(r.requests.unsettled).toBe(0);
    const settled = r.requests.ok + r.requests.switchover + r.requests.timeout + r.requests.server + r.requests.other;
    expect(settled).toBe(r.requests.sent);
    expect(r.switchover).toMatchObject({ from: 'primary', to: 'backup', reason: 'crash' });
  }, 60_000);

  it('warm: reports its loss as a gap and measures the reconnect', async () => {
    const r = await runOnce({ ...base, mode: 'warm', transport }, 0);
    expect(r.error).toBeNull();
    expect(r.gaps.length).toBeGreaterThan(0);
    expect(r.oracle.lostOutsideGap).toEqual([]);
    expect(r.oracle.duplicated).toEqual([]);
    expect(r.requests.unsettled).toBe(0);
    expect(r.overheadMs).not.toBeNull();
    expect(r.warmSteps).not.toBeNull();
    expect(r.readyMs).not.toBeNull();
  }, 60_000);
});
