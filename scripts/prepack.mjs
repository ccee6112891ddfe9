#!/usr/bin/env node
// `npm pack` / `npm publish` run this first (prepack), then `prepare` (the TypeScript build):
// - dist/ is removed, so the tarball holds only what the current sources compile to (no stale files);
// - the prebuild for this platform is built when missing (prebuilds/ of other platforms, collected from
//   their builds, are kept and shipped as they are).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const r = spawnSync(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), '--if-missing'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
