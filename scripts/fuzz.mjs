#!/usr/bin/env node
// npm run fuzz -- [--seconds N] [--json] [--no-replay] [--replay-only] [--to-vector FILE]
//
// 1. Makes sure clang-14 with libFuzzer and the ASan/UBSan runtimes works (installs the Debian packages
//    with apt-get when missing and running as root; otherwise says what to install and exits 3).
// 2. Builds native/fuzz/fuzz_codec.cc + the codec core into build-fuzz/fuzz_codec
//    (-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all).
// 3. Runs it for N seconds (default 60) on .fuzz/corpus (written) + test/fuzz-corpus (committed seeds,
//    read only) with native/fuzz/codec.dict; crash inputs go to .fuzz/artifacts/.
// 4. Replays the committed seeds and the run's corpus through the TS decoder, the addon and the TS
//    scanner (test/protocol/fuzz-corpus.test.ts), which must all agree.
// 5. Drives the real addon, built with ASan/UBSan, over the same corpus (scripts/fuzz-addon-asan.mjs).
// Prints executions, exec/s, coverage, corpus growth and crashes (JSON with --json). Exit status: 0 ok,
// 1 crash or replay mismatch, 2 bad arguments, 3 toolchain missing.
// --to-vector FILE: turn a crash input into a regression (see printRegression).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFuzzInput } from './fuzz-input.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CXX = process.env.FUZZ_CXX || 'clang++-14';
const PACKAGES = ['clang-14', 'libfuzzer-14-dev', 'libclang-rt-14-dev'];
const SAN = ['-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
const FLAGS = ['-std=c++17', '-g', '-O1', '-Wall', '-Wextra', '-Werror', ...SAN, '-I', join(root, 'native')];
const SOURCES = ['native/fuzz/fuzz_codec.cc', 'native/codec/codec.cc'].map((f) => join(root, f));
const BIN = join(root, 'build-fuzz', 'fuzz_codec');
const WORK = join(root, '.fuzz');
const CORPUS = join(WORK, 'corpus');
const ARTIFACTS = join(WORK, 'artifacts');
const SEEDS = join(root, 'test', 'fuzz-corpus');
const REGRESSIONS = join(root, 'native', 'fuzz', 'regressions');
const rel = (p) => relative(process.cwd(), p) || '.';

function parseArgs(argv) {
  const o = { seconds: 60, json: false, replay: true, fuzz: true, toVector: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a.startsWith('--seconds=')) o.seconds = Number(a.slice(10));
    else if (a === '--json') o.json = true;
    else if (a === '--no-replay') o.replay = false;
    else if (a === '--replay-only') o.fuzz = false;
    else if (a === '--to-vector') o.toVector = argv[++i];
    else if (a === '--help' || a === '-h') usage(0);
    else usage(2, `unknown argument ${a}`);
  }
  if (!Number.isInteger(o.seconds) || o.seconds < 1) usage(2, '--seconds must be a positive integer');
  return o;
}

function usage(code, msg) {
  if (msg) console.error(`fuzz: ${msg}`);
  console.error('usage: npm run fuzz -- [--seconds N] [--json] [--no-replay] [--replay-only] [--to-vector FILE]');
  process.exit(code);
}

/** Human progress goes to stderr so `--json` keeps stdout machine-readable. */
const log = (...a) => console.error(...a);

// ---- toolchain -------------------------------------------------------------------------------------------
function toolchainProblem() {
  if (spawnSync('sh', ['-c', `command -v ${CXX}`]).status !== 0) return `${CXX} not found`;
  // Linking a trivial target proves libFuzzer and the ASan/UBSan runtimes (libclang-rt-14-dev) are there.
  const dir = join(root, 'build-fuzz');
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'probe.cc');
  writeFileSync(src, '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n');
  const r = spawnSync(CXX, [...SAN, src, '-o', join(dir, 'probe')], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${CXX} cannot link a libFuzzer+ASan+UBSan target:\n${(r.stderr || r.error?.message || '').trim()}`;
}

function ensureToolchain() {
  let problem = toolchainProblem();
  if (!problem) return;
  const canInstall = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0 && !process.env.FUZZ_CXX;
  if (!canInstall) {
    log(`fuzz: ${problem}\nInstall the fuzzing toolchain (Debian/Ubuntu), then re-run:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`);
    process.exit(3);
  }
  log(`fuzz: ${problem.split('\n')[0]}; installing ${PACKAGES.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...PACKAGES]]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env });
    if (r.status !== 0) {
      log(`fuzz: apt-get ${args[0]} failed (status ${r.status})`);
      process.exit(3);
    }
  }
  problem = toolchainProblem();
  if (problem) {
    log(`fuzz: still broken after installing: ${problem}`);
    process.exit(3);
  }
}

// ---- build -------------------------------------------------------------------------------------------------
function build() {
  const stamp = `${BIN}.flags`;
  const flags = JSON.stringify([CXX, ...FLAGS]);
  const inputs = [...SOURCES, join(root, 'native/codec/codec.h')];
  const fresh = existsSync(BIN) && existsSync(stamp) && readFileSync(stamp, 'utf8') === flags &&
    inputs.every((f) => statSync(f).mtimeMs < statSync(BIN).mtimeMs);
  if (fresh) return;
  log(`fuzz: building ${rel(BIN)}`);
  mkdirSync(dirname(BIN), { recursive: true });
  const r = spawnSync(CXX, [...FLAGS, ...SOURCES, '-o', BIN], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) {
    log('fuzz: build failed');
    process.exit(1);
  }
  writeFileSync(stamp, flags);
}

// ---- run -----------------------------------------------------------------------------------------------------
const countFiles = (d) => (existsSync(d) ? readdirSync(d).filter((f) => statSync(join(d, f)).isFile()).length : 0);

/** Pull the numbers out of libFuzzer's output (-print_final_stats=1). */
function parseStats(text) {
  const stat = (k) => Number(text.match(new RegExp(`stat::${k}:\\s+(\\d+)`))?.[1] ?? NaN);
  const status = [...text.matchAll(/^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)\//gm)];
  const inited = status.find((m) => m[2] === 'INITED');
  const last = status.at(-1);
  return {
    executions: stat('number_of_executed_units'),
    execPerSec: stat('average_exec_per_sec'),
    newUnits: stat('new_units_added'),
    peakRssMb: stat('peak_rss_mb'),
    edgesTotal: Number(text.match(/\((\d+) inline 8-bit counters\)/)?.[1] ?? NaN),
    edgesAtStart: inited ? Number(inited[3]) : NaN,
    edges: last ? Number(last[3]) : NaN,
    features: last ? Number(last[4]) : NaN,
    crash: text.match(/Test unit written to (\S+)/)?.[1],
    crashKind: text.match(/^SUMMARY: (.*)$/m)?.[1] ?? text.match(/property violated: (.*)$/m)?.[1],
  };
}

function runFuzzer(seconds, quiet) {
  for (const d of [CORPUS, ARTIFACTS]) mkdirSync(d, { recursive: true });
  const args = [
    `-max_total_time=${seconds}`, '-print_final_stats=1', `-dict=${join(root, 'native/fuzz/codec.dict')}`,
    `-artifact_prefix=${ARTIFACTS}/`, '-max_len=8192', '-timeout=10', '-rss_limit_mb=2048', CORPUS, SEEDS,
  ];
  // A small ASan quarantine keeps RSS near 100 MB instead of ~650 MB (shared machines).
  const env = {
    ...process.env,
    ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'quarantine_size_mb=16:detect_leaks=1',
    UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1:halt_on_error=1',
  };
  log(`fuzz: ${rel(BIN)} for ${seconds} s (corpus ${rel(CORPUS)}: ${countFiles(CORPUS)} files, seeds ${rel(SEEDS)}: ${countFiles(SEEDS)})`);
  return new Promise((resolve) => {
    const child = spawn(BIN, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let partial = '';
    const onData = (chunk) => {
      const s = chunk.toString();
      text += s;
      const lines = (partial + s).split('\n');
      partial = lines.pop();
      // Only the milestones: libFuzzer prints a line per new coverage unit.
      if (!quiet) for (const line of lines) if (/^#\d+\s+(INITED|pulse|DONE)|^INFO: Loaded \d+ modules/.test(line)) log(`  ${line}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    // libFuzzer stops itself at -max_total_time; this only guards against a wedged process.
    const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
    const forward = () => child.kill('SIGINT');
    process.once('SIGINT', forward);
    child.on('close', (status, signal) => {
      clearTimeout(guard);
      process.off('SIGINT', forward);
      writeFileSync(join(WORK, 'last-run.log'), text);
      resolve({ status, signal, text });
    });
  });
}

// ---- source coverage ---------------------------------------------------------------------------------------------
/**
 * Line/branch coverage of the codec core (codec.cc) reached by the corpus, from a separate
 * -fprofile-instr-generate build (libFuzzer's `cov:` counts edges of the harness and of the sanitizer
 * checks too). Needs llvm-profdata-14 and llvm-cov-14 (package llvm-14); skipped with a note otherwise.
 */
function sourceCoverage() {
  const tools = ['llvm-profdata-14', 'llvm-cov-14'];
  if (!tools.every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0)) return { note: `${tools.join('/')} not found (apt-get install llvm-14)` };
  const bin = `${BIN}_cov`;
  const raw = join(dirname(BIN), 'cov.profraw');
  const data = join(dirname(BIN), 'cov.profdata');
  const steps = [
    [CXX, ['-std=c++17', '-O1', '-g', '-fsanitize=fuzzer', '-fprofile-instr-generate', '-fcoverage-mapping', '-I', join(root, 'native'), ...SOURCES, '-o', bin]],
    [bin, ['-runs=0', CORPUS, SEEDS], { LLVM_PROFILE_FILE: raw }],
    ['llvm-profdata-14', ['merge', '-sparse', raw, '-o', data]],
    ['llvm-cov-14', ['export', '-summary-only', bin, `-instr-profile=${data}`, join(root, 'native/codec/codec.cc')]],
  ];
  let out = '';
  for (const [cmd, args, env] of steps) {
    const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
    if (r.status !== 0) return { note: `${basename(cmd)} failed: ${(r.stderr ?? '').trim().split('\n').at(-1)}` };
    out = r.stdout;
  }
  const sum = JSON.parse(out).data[0].files.find((f) => f.filename.endsWith('codec.cc'))?.summary;
  if (!sum) return { note: 'codec.cc missing from the coverage report' };
  const pick = (k) => ({ covered: sum[k].covered, count: sum[k].count, percent: Math.round(sum[k].percent * 10) / 10 });
  return { file: 'native/codec/codec.cc', lines: pick('lines'), branches: pick('branches'), regions: pick('regions'), functions: pick('functions') };
}

// ---- differential replay --------------------------------------------------------------------------------------
function replay(withRunCorpus, quiet) {
  const report = join(WORK, 'replay.json');
  rmSync(report, { force: true });
  mkdirSync(WORK, { recursive: true });
  const env = { ...process.env, TSERVER_HA_NATIVE: process.env.TSERVER_HA_NATIVE ?? 'require', TSHA_FUZZ_REPORT: report };
  if (withRunCorpus) env.TSHA_FUZZ_CORPUS = CORPUS;
  log(`fuzz: differential replay (TS reference vs native vs TS scanner) of ${rel(SEEDS)}${withRunCorpus ? ` and ${rel(CORPUS)}` : ''}`);
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const r = spawnSync(process.execPath, [vitest, 'run', 'test/protocol/fuzz-corpus.test.ts'], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ok = r.status === 0;
  if (!ok || !quiet) log(((r.stdout ?? '') + (r.stderr ?? '')).trim().split('\n').slice(ok ? -6 : -80).join('\n'));
  if (!ok && /NativeUnavailableError|ERR_NATIVE_UNAVAILABLE/.test(r.stdout + r.stderr)) log('fuzz: the addon is not built: run `npm run build:native` (or set TSERVER_HA_NATIVE=auto to replay TS-only)');
  const summary = existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : undefined;
  return { ok, files: summary?.files, comparisons: summary?.comparisons, mismatches: summary?.mismatches.length, native: summary?.native };
}

// ---- the real addon under ASan/UBSan -----------------------------------------------------------------------------
function addonAsan(withRunCorpus) {
  log('fuzz: the addon built with ASan/UBSan, driven over the corpus with small output arrays');
  const dirs = withRunCorpus ? [SEEDS, CORPUS] : [SEEDS];
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'fuzz-addon-asan.mjs'), ...dirs], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) log(r.stderr);
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  } catch {
    return { ok: false, note: `fuzz-addon-asan exited with ${r.status}` };
  }
}

// ---- crash → regression ----------------------------------------------------------------------------------------
/**
 * Print what turns a crash input into a regression: the decoded input, the TS decoder's verdict as a
 * line for test/vectors/generate.mjs (expectations there are stated by hand: check it), and a copy in
 * native/fuzz/regressions/ (which `npm run fuzz:seed` adds to the seed corpus).
 */
async function printRegression(file) {
  const input = readFileSync(file);
  const parsed = parseFuzzInput(input);
  if (!parsed) usage(2, `${file} is shorter than the 4-byte fuzz header`);
  const { decodeFrames, frameToJSON, ProtocolError } = await import('../dist/lib/protocol/index.js');
  const { limits, stream } = parsed;
  const hex = Buffer.from(stream).toString('hex');
  const nonDefault = Object.fromEntries(Object.entries(limits).filter(([k, v]) => v !== { maxFrameSize: 1048576, maxDepth: 8, maxAttributes: 4096 }[k]));
  const lim = Object.keys(nonDefault).length ? JSON.stringify(nonDefault) : undefined;
  const name = `fuzz regression ${basename(file).replace(/^crash-/, '').slice(0, 12)}`;
  let line;
  try {
    const frames = decodeFrames(stream, limits).map(frameToJSON);
    line = `validHex('${name}', cat('${hex}'), ${JSON.stringify(frames)}${lim ? `, ${lim}` : ''});`;
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    const buf = Buffer.from(stream.buffer, stream.byteOffset, stream.length);
    let framesBefore = 0;
    for (let pos = 0; pos < e.offset; pos += 4 + buf.readUInt32BE(pos)) framesBefore++;
    line = `invalid('${name}', cat('${hex}'), '${e.code}', { ${lim ? `limits: ${lim}, ` : ''}offset: ${e.offset}, framesBefore: ${framesBefore} });`;
  }
  mkdirSync(REGRESSIONS, { recursive: true });
  const saved = join(REGRESSIONS, basename(file));
  copyFileSync(file, saved);
  console.log(`input: ${rel(file)} (limits ${JSON.stringify(limits)}, stream ${stream.length} bytes)
saved to ${rel(saved)} (seed corpus regression input)
line for test/vectors/generate.mjs (the TS decoder's verdict: check it by hand before adding):
  ${line}
then: npm run vectors && npm run fuzz:seed && npm run test:native-core && npx vitest run test/protocol`);
}

// ---- main ---------------------------------------------------------------------------------------------------------
const opts = parseArgs(process.argv.slice(2));
if (opts.toVector) {
  await printRegression(opts.toVector);
  process.exit(0);
}
const result = { seconds: opts.fuzz ? opts.seconds : 0, ok: true };
if (opts.fuzz) {
  ensureToolchain();
  build();
  const before = countFiles(CORPUS);
  const run = await runFuzzer(opts.seconds, opts.json);
  const st = parseStats(run.text);
  Object.assign(result, {
    executions: st.executions, execPerSec: st.execPerSec,
    coverage: { edges: st.edges, edgesAtStart: st.edgesAtStart, edgesInstrumented: st.edgesTotal, features: st.features },
    corpus: { before, after: countFiles(CORPUS), newUnits: st.newUnits }, peakRssMb: st.peakRssMb,
    crashes: st.crash || run.status !== 0 ? 1 : 0,
  });
  if (result.crashes) {
    result.ok = false;
    result.crash = {
      kind: st.crashKind ?? `fuzzer exited with status ${run.status}${run.signal ? ` (${run.signal})` : ''}`,
      input: st.crash ? rel(st.crash) : undefined,
      reproduce: st.crash ? `${rel(BIN)} ${rel(st.crash)}` : undefined,
      toVector: st.crash ? `npm run fuzz -- --to-vector ${rel(st.crash)}` : undefined,
      log: rel(join(WORK, 'last-run.log')),
    };
    log(run.text.trim().split('\n').slice(-60).join('\n'));
  }
}
if (opts.fuzz && result.ok) result.sourceCoverage = sourceCoverage();
if (opts.replay && result.ok !== false) {
  result.replay = replay(opts.fuzz, opts.json);
  if (!result.replay.ok) result.ok = false;
}
if (opts.replay && result.ok !== false) {
  result.addonAsan = addonAsan(opts.fuzz);
  if (!result.addonAsan.ok) result.ok = false;
}

if (opts.json) {
  console.log(JSON.stringify(result, null, 1));
} else {
  const rows = [];
  if (opts.fuzz) {
    const c = result.coverage;
    rows.push(['executions', result.executions], ['exec/s', result.execPerSec],
      ['coverage (cov: edges)', `${c.edges} (start ${c.edgesAtStart}, instrumented ${c.edgesInstrumented})`], ['features (ft:)', c.features],
      ['corpus files', `${result.corpus.before} -> ${result.corpus.after} (+${result.corpus.newUnits} units)`], ['peak RSS MB', result.peakRssMb],
      ['crashes', result.crashes]);
    const sc = result.sourceCoverage;
    if (sc) {
      const f = (m) => `${m.covered}/${m.count} (${m.percent}%)`;
      rows.push(['codec.cc coverage', sc.note ?? `lines ${f(sc.lines)}, branches ${f(sc.branches)}, functions ${f(sc.functions)}`]);
    }
  }
  if (result.replay) rows.push(['replay', `${result.replay.ok ? 'ok' : 'FAILED'}: ${result.replay.files ?? '?'} files, ${result.replay.comparisons ?? '?'} comparisons, ${result.replay.mismatches ?? '?'} mismatches, native ${result.replay.native ? 'on' : 'off'}`]);
  const a = result.addonAsan;
  if (a) rows.push(['addon under ASan', a.skipped ? `skipped: ${a.note}` : a.ok ? `ok: ${a.files} files, ${a.calls} decode calls` : `FAILED: ${a.note}`]);
  console.log(rows.map(([k, v]) => `${k.padEnd(22)} ${v}`).join('\n'));
  if (result.crash) {
    console.log(`\nCRASH: ${result.crash.kind}\n  input:      ${result.crash.input}\n  reproduce:  ${result.crash.reproduce}\n  regression: ${result.crash.toVector}\n  full log:   ${result.crash.log}`);
  }
}
process.exit(result.ok ? 0 : 1);
