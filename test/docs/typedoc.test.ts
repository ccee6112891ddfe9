/**
 * `npm run docs` (typedoc) where there is no git: a copy of the sources without .git, as in an unpacked
 * tarball or a CI step that exports the tree. Source links need git only to name the commit
 * (typedoc.json's sourceLinkTemplate), so typedoc must finish without a warning — warnings stay errors
 * (treatWarningsAsErrors), which is what made it exit 3 with no remote. `--emit none`: the checks, no HTML.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'tsha-docs-'));
  for (const f of ['lib', 'docs', 'examples', 'README.md', 'CHANGELOG.md', 'LICENSE', 'package.json', 'typedoc.json', 'tsconfig.json', 'tsconfig.docs.json']) {
    cpSync(join(root, f), join(copy, f), { recursive: true, filter: (src) => !src.startsWith(join(root, 'docs', 'api')) });
  }
  mkdirSync(join(copy, 'bench'));
  cpSync(join(root, 'bench', 'README.md'), join(copy, 'bench', 'README.md'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('npm run docs', () => {
  it('keeps warnings as errors and links sources without needing a git remote', () => {
    const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as { treatWarningsAsErrors?: boolean; sourceLinkTemplate?: string; disableSources?: boolean };
    expect(config.treatWarningsAsErrors).toBe(true);
    expect(config.sourceLinkTemplate).toMatch(/\{path\}.*\{line\}/);
  });

  it('succeeds in a copy of the sources without .git', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none'], {
      cwd: copy, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', GIT_CEILING_DIRECTORIES: tmpdir() },
    });
    const out = r.stdout + r.stderr;
    expect(out).not.toMatch(/git remote|not a git repository/i);
    expect(out).not.toMatch(/\[warning\]|\[error\]/);
    expect(r.status, out).toBe(0);
  });
});
