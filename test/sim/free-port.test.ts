/**
 * The simulator draws its ports at random below the ephemeral range. Two draws for one simulation that
 * land on the same number must not both be handed out: its second server would never listen.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../lib/sim/process.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('freePort', () => {
  it('never returns a port already chosen for the same simulation, even when every draw lands on it', async () => {
    // Every random draw is the same number: the worst case of two draws colliding.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const taken = new Set<number>();
    const first = await freePort('127.0.0.1', taken);
    const second = await freePort('127.0.0.1', taken);
    expect(second).not.toBe(first);
    expect([...taken].sort()).toEqual([first, second].sort());
  });
});
