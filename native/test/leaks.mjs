#!/usr/bin/env node
// npm run test:native-leaks [-- --json]: the standalone codec core test (native/test/codec_test.cc, all
// golden vectors) under two leak checkers, each of which must report zero leaks and zero errors:
//   1. AddressSanitizer + UBSan + LeakSanitizer (clang++-14 when present, else g++), detect_leaks=1;
//   2. valgrind memcheck --leak-check=full on a plain -O1 build (skipped with a note when valgrind is
//      not installed; TSHA_REQUIRE_VALGRIND=1 makes that a failure).
// Each checker is first run on `codec_test --leak-self-test`, which leaks one block on purpose: a checker
// that does not flag it is broken, and the script fails rather than report a vacuous pass.
// Binaries go to build-leaks/ (git-ignored).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const json = process.argv.includes('--json');
const log = (...a) => console.error(...a);
const outDir = join(root, 'build-leaks');
const vectors = join(root, 'test', 'vectors', 'vectors.txt');
const sources = [join(root, 'native/codec/codec.cc'), join(root, 'native/test/codec_test.cc')];
const base = ['-std=c++17', '-g', '-O1', '-Wall', '-Wextra', '-Werror', '-fno-omit-frame-pointer', '-I', join(root, 'native')];
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function build(cxx, extra, out) {
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync(cxx, [...base, ...extra, ...sources, '-o', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cxx} ${extra.join(' ')} failed:\n${r.stderr}`);
  return out;
}

const run = (cmd, args, env = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

const results = [];
let ok = true;

// ---- 1. ASan + UBSan + LeakSanitizer -----------------------------------------------------------------
{
  const cxx = process.env.CXX_LEAKS || (has('clang++-14') ? 'clang++-14' : 'g++');
  const bin = build(cxx, ['-fsanitize=address,undefined', '-fno-sanitize-recover=all'], join(outDir, 'codec_test_asan'));
  const env = { ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1', LSAN_OPTIONS: '' };
  const self = run(bin, ['--leak-self-test', vectors], env);
  const caught = self.status !== 0 && /LeakSanitizer: detected memory leaks/.test(self.out);
  const real = run(bin, [vectors], env);
  const pass = caught && real.status === 0 && !/ERROR: (Leak|Address)Sanitizer|runtime error/.test(real.out);
  results.push({
    checker: `ASan+UBSan+LSan (${cxx})`, pass, selfTestCaught: caught, status: real.status,
    summary: real.out.match(/codec_test: .*failures/)?.[0] ?? real.out.trim().split('\n').slice(-3).join(' | '),
  });
  if (!pass) {
    ok = false;
    log(caught ? real.out : `LeakSanitizer did not flag the deliberate leak (status ${self.status}):\n${self.out}`);
  }
}

// ---- 2. valgrind memcheck ------------------------------------------------------------------------------
if (has('valgrind')) {
  const bin = build(process.env.CXX || 'g++', [], join(outDir, 'codec_test_plain'));
  const vg = ['--leak-check=full', '--show-leak-kinds=definite,indirect,possible', '--errors-for-leak-kinds=definite,indirect,possible', '--error-exitcode=1'];
  const self = run('valgrind', [...vg, bin, '--leak-self-test', vectors]);
  const caught = self.status === 1 && /definitely lost: [1-9]/.test(self.out);
  const real = run('valgrind', [...vg, bin, vectors]);
  const errors = Number(real.out.match(/ERROR SUMMARY: (\d+) errors/)?.[1] ?? NaN);
  const heap = real.out.match(/total heap usage: ([\d,]+) allocs, ([\d,]+) frees, ([\d,]+) bytes allocated/);
  const pass = caught && real.status === 0 && errors === 0 && /All heap blocks were freed -- no leaks are possible/.test(real.out);
  results.push({
    checker: 'valgrind memcheck --leak-check=full', pass, selfTestCaught: caught, status: real.status, errors,
    summary: heap ? `${heap[1]} allocs, ${heap[2]} frees, ${heap[3]} bytes; all heap blocks freed` : real.out.trim().split('\n').slice(-3).join(' | '),
  });
  if (!pass) {
    ok = false;
    log(caught ? real.out : `valgrind did not flag the deliberate leak (status ${self.status}):\n${self.out}`);
  }
} else if (process.env.TSHA_REQUIRE_VALGRIND) {
  ok = false;
  results.push({ checker: 'valgrind', pass: false, summary: 'valgrind not installed (apt-get install valgrind)' });
} else {
  results.push({ checker: 'valgrind', pass: true, skipped: true, summary: 'not installed: skipped (apt-get install valgrind)' });
}

if (json) console.log(JSON.stringify({ ok, results }, null, 1));
else for (const r of results) console.log(`${r.pass ? (r.skipped ? 'SKIP' : 'PASS') : 'FAIL'}  ${r.checker.padEnd(38)} ${r.summary}${r.selfTestCaught ? ' (deliberate leak caught)' : ''}`);
process.exit(ok ? 0 : 1);
