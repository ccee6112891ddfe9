/**
 * check:sim:mutants edits the source by exact text; a refactor that moves that text would otherwise be
 * noticed only at the end of CI, after the long stages. This keeps the two in step inside `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/check-mutants.mjs', import.meta.url));

describe('check:sim:mutants', () => {
  it('every defect it puts back still applies to the current source', () => {
    const r = spawnSync(process.execPath, [script, '--texts-only'], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/mutant /);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^all \d+ mutants apply/);
  });
});
