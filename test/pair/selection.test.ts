import { describe, expect, it } from 'vitest';
import { isSplitBrain, pickActive, pickSource, type Candidate } from '../../lib/pair/core/selection.js';

const ep = (name: 'primary' | 'backup', s: string): Candidate => {
  const [state, role, link] = s.split('/') as [Candidate['state'], Candidate['role'], Candidate['link']];
  return { name, state, role, link };
};

// primary endpoint / backup endpoint as state/role/link; current source; switchOnLinkDown; expected.
const table: [string, string, 'primary' | 'backup' | null, boolean, 'primary' | 'backup' | null][] = [
  ['open/primary/up', 'open/backup/up', null, true, 'primary'],
  ['open/primary/up', 'open/backup/up', 'backup', true, 'backup'],
  ['closed/primary/up', 'open/backup/up', 'primary', true, 'backup'],
  ['open/primary/down', 'open/backup/up', 'primary', true, 'backup'],
  ['open/primary/down', 'open/backup/up', 'primary', false, 'primary'],
  ['open/backup/up', 'open/primary/up', 'primary', true, 'primary'],
  ['open/primary/up', 'open/primary/up', 'backup', true, 'backup'],
  ['open/primary/up', 'open/primary/up', 'primary', true, 'primary'],
  ['open/primary/up', 'open/primary/up', null, true, 'primary'],
  ['open/backup/up', 'open/backup/up', null, true, 'primary'],
  ['registering/primary/up', 'closed/backup/up', null, true, null],
  ['open/unknown/unknown', 'closed/backup/up', null, true, 'primary'],
  ['open/primary/down', 'open/backup/down', 'backup', true, 'backup'],
  ['open/primary/down', 'open/backup/down', null, true, 'primary'],
  ['open/backup/down', 'open/primary/up', 'primary', true, 'backup'],
];

describe('source selection', () => {
  it.each(table)('%s + %s, source %s, switchOnLinkDown %s → %s', (p, b, current, sold, want) => {
    expect(pickSource([ep('primary', p), ep('backup', b)], current, sold)).toBe(want);
  });

  it.each([
    ['open/backup/up', 'open/backup/up', null],
    ['open/primary/up', 'open/backup/up', 'primary'],
    ['open/backup/up', 'open/primary/up', 'backup'],
    ['open/primary/down', 'open/backup/up', null],
  ] as const)('while opening, only a routable endpoint becomes the source: %s + %s → %s', (p, b, want) => {
    expect(pickSource([ep('primary', p), ep('backup', b)], null, true, true)).toBe(want);
  });

  // primary endpoint, backup endpoint, current active, source → expected active
  it.each([
    ['open/primary/up', 'open/backup/up', null, null, 'primary'],
    ['open/primary/up', 'open/primary/up', 'backup', 'primary', 'backup'],
    ['open/primary/up', 'open/primary/up', null, 'backup', 'backup'],
    ['open/backup/up', 'open/primary/up', 'primary', 'primary', 'backup'],
    ['open/primary/down', 'open/backup/up', 'primary', 'backup', null],
    ['closed/primary/up', 'registering/primary/up', null, null, null],
  ] as const)('requests go to %s + %s (active %s, source %s) → %s', (p, b, cur, src, want) => {
    expect(pickActive([ep('primary', p), ep('backup', b)], cur, src)).toBe(want);
  });

  it('flags split brain only when both open endpoints say primary', () => {
    expect(isSplitBrain([ep('primary', 'open/primary/up'), ep('backup', 'open/primary/up')])).toBe(true);
    expect(isSplitBrain([ep('primary', 'open/primary/up'), ep('backup', 'closed/primary/up')])).toBe(false);
    expect(isSplitBrain([ep('primary', 'open/primary/up'), ep('backup', 'open/backup/up')])).toBe(false);
  });
});
