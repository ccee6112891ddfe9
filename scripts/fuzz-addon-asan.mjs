#!/usr/bin/env node
// The real addon (native/addon + native/codec, Node-API layer included) built with g++
// -fsanitize=address,undefined into build-fuzz/tserver_ha_asan.node and driven, inside a Node process
// with the sanitizer runtimes preloaded, over a fuzz corpus: every input under the default and the
// selected limits, with output arrays from "header only" up to roomy, all exact-size (small typed arrays
// start on the V8 heap, but napi_get_typedarray_info moves them to a malloc'd backing store), so an
// out-of-bounds access by the addon lands in an ASan redzone.
// Checks the index header's invariants and that small arrays give a prefix of the roomy result.
// Usage: node scripts/fuzz-addon-asan.mjs DIR...   (run by `npm run fuzz` after the replay)
// Prints one JSON line {ok, files, calls, note?}; exit 1 on a sanitizer report or a broken invariant.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS, parseFuzzInput } from './fuzz-input.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(root, 'build-fuzz', 'tserver_ha_asan.node');
const CXX = process.env.CXX || 'g++';
const args = process.argv.slice(2);

if (args[0] !== '--child') {
  const note = (msg) => {
    console.log(JSON.stringify({ ok: true, skipped: true, note: msg }));
    process.exit(0);
  };
  const nodeInc = [join(dirname(dirname(process.execPath)), 'include', 'node'), process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node')]
    .filter(Boolean).find((d) => existsSync(join(d, 'node_api.h')));
  if (!nodeInc) note('Node headers (include/node/node_api.h) not found next to this node');
  const require = createRequire(join(root, 'package.json'));
  const napiInc = require('node-addon-api').include_dir.replace(/^"|"$/g, '');
  const sources = ['native/codec', 'native/addon'].flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith('.cc')).map((f) => join(root, d, f)));
  const newest = Math.max(...['native/codec', 'native/addon'].flatMap((d) => readdirSync(join(root, d)).map((f) => statSync(join(root, d, f)).mtimeMs)));
  if (!existsSync(BIN) || statSync(BIN).mtimeMs < newest) {
    mkdirSync(dirname(BIN), { recursive: true });
    const r = spawnSync(CXX, ['-shared', '-fPIC', '-std=c++17', '-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
      '-DNAPI_VERSION=8', '-DNAPI_DISABLE_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-I', nodeInc, '-I', join(root, napiInc), '-I', napiInc,
      '-I', join(root, 'native'), ...sources, '-o', BIN], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) note(`${CXX} could not build the ASan addon: ${(r.stderr ?? '').trim().split('\n').at(-1)}`);
  }
  const lib = (n) => spawnSync(CXX, [`-print-file-name=${n}`], { encoding: 'utf8' }).stdout.trim();
  const preload = [lib('libasan.so'), lib('libubsan.so')];
  if (!preload.every((p) => p.startsWith('/') && existsSync(p))) note(`${CXX} has no shared libasan/libubsan to preload`);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', ...args], {
    encoding: 'utf8', maxBuffer: 64 << 20,
    env: {
      ...process.env, LD_PRELOAD: preload.join(' '),
      // Node itself does not free everything at exit: leaks are checked on the core test instead.
      ASAN_OPTIONS: 'detect_leaks=0:halt_on_error=1', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    },
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status === 0 && last.startsWith('{')) {
    console.log(last);
    process.exit(0);
  }
  process.stderr.write(`${r.stdout}${r.stderr}`.split('\n').slice(-60).join('\n'));
  console.log(JSON.stringify({ ok: false, status: r.status, signal: r.signal, note: 'sanitizer report or invariant violation (output above)' }));
  process.exit(1);
}

// ---- child: runs with the sanitizers preloaded --------------------------------------------------------------
const binding = createRequire(import.meta.url)(BIN);
const H = { FRAMES: 0, ATTRS: 1, CONSUMED: 2, ERRNO: 3, ERROR_OFFSET: 4, NEXT: 5, FULL: 6 };
let calls = 0;
let files = 0;
const fail = (file, msg) => {
  console.error(`fuzz-addon-asan: ${file}: ${msg}`);
  process.exit(1);
};

function decode(input, frames, attrs, lim) {
  const index = new Float64Array(8 + frames * 8);
  const at = new Uint32Array(attrs);
  const n = binding.decode(input, index, at, lim.maxFrameSize, lim.maxDepth, lim.maxAttributes);
  calls++;
  return { n, index, at };
}

for (const dir of args.slice(1)) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const parsed = parseFuzzInput(readFileSync(path));
    if (!parsed) continue;
    files++;
    const input = new Uint8Array(parsed.stream); // exact-size, off-heap copy (not a Buffer pool slice)
    for (const lim of [DEFAULT_LIMITS, parsed.limits]) {
      const big = decode(input, Math.ceil(input.length / 10) + 1, Math.ceil(input.length / 3) + 1, lim);
      const bi = big.index;
      if (bi[H.FULL] !== 0 || big.n !== bi[H.FRAMES]) fail(name, 'roomy arrays reported full');
      if (bi[H.CONSUMED] > input.length || (bi[H.ERRNO] !== 0 && bi[H.ERROR_OFFSET] !== bi[H.CONSUMED])) fail(name, 'bad header');
      for (const [frames, attrs] of [[0, 0], [1, 0], [1, 1], [1, 16], [2, 3], [3, 64]]) {
        const s = decode(input, frames, attrs, lim);
        const si = s.index;
        if (s.n > frames || si[H.ATTRS] > attrs || s.n !== si[H.FRAMES]) fail(name, `arrays ${frames}/${attrs}: wrote past its capacity claims`);
        if (si[H.FULL] === 1 ? si[H.ERRNO] !== 0 || s.n >= big.n : JSON.stringify(Array.from(si.subarray(0, 6))) !== JSON.stringify(Array.from(bi.subarray(0, 6)))) {
          fail(name, `arrays ${frames}/${attrs}: header differs from the roomy decode`);
        }
        for (let i = 0; i < s.n * 8; i++) if (si[8 + i] !== bi[8 + i]) fail(name, `arrays ${frames}/${attrs}: record field ${i} differs`);
        for (let i = 0; i < si[H.ATTRS]; i++) if (s.at[i] !== big.at[i]) fail(name, `arrays ${frames}/${attrs}: attribute offset ${i} differs`);
      }
    }
  }
}
console.log(JSON.stringify({ ok: true, files, calls }));
