/**
 * One frame classification (lib/transport/hold-rule.ts) for the endpoint, the windows and the checker; the
 * addon's copy of the never-held list (native/addon/io_conn.cc, kNeverHeld) is compared with it here, so
 * the two cannot drift.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../lib/protocol/ids.js';
import { FrameKind, frameKind, isHeldEvent, NEVER_HELD_TYPES } from '../../lib/transport/hold-rule.js';

const root = join(import.meta.dirname, '..', '..');

describe('frame classification', () => {
  it('the addon holds exactly what the TS rule holds (kNeverHeld = NEVER_HELD_TYPES)', () => {
    const src = readFileSync(join(root, 'native/addon/io_conn.cc'), 'utf8');
    const m = /kNeverHeld\[\]\s*=\s*\{([^}]*)\}/.exec(src);
    expect(m, 'kNeverHeld not found in io_conn.cc').not.toBeNull();
    const native = m![1]!.split(',').map((x) => Number(x.trim())).filter((x) => Number.isInteger(x));
    expect(new Set(native)).toEqual(new Set(NEVER_HELD_TYPES));
  });

  it.each([
    ['a reply, whatever its type', MessageType.EventServerInfo, 7, 12, FrameKind.Reply, false],
    ['an unsolicited EventServerInfo is a role report', MessageType.EventServerInfo, 30, 0, FrameKind.Role, false],
    ['EventPrimaryChanged', MessageType.EventPrimaryChanged, -1, -1, FrameKind.Role, false],
    ['a link report carries a position, not an event', MessageType.EventLinkDisconnected, 40, 0, FrameKind.Link, false],
    ['EventRegistered without our ReferenceID: a position', MessageType.EventRegistered, 41, 0, FrameKind.Position, false],
    ['a numbered switch event is held', MessageType.EventRouteRequest, 42, 0, FrameKind.Event, true],
    ['an unnumbered event is delivered, never held', MessageType.EventRinging, -1, -1, FrameKind.Event, false],
    ['an unsolicited EventError is an event', MessageType.EventError, -1, 0, FrameKind.Event, false],
  ] as const)('%s', (_what, type, seq, ref, kind, held) => {
    expect(frameKind(type, ref)).toBe(kind);
    expect(isHeldEvent(type, seq, ref)).toBe(held);
  });
});
