#!/usr/bin/env node
// `npm run test:asan`: build the addon with gcc -fsanitize=address,undefined into build-asan/ (the normal
// build/ is left alone) and run the codec, transport conformance and native lifetime/stall tests against
// it. Node itself is not instrumented, so the sanitizer runtimes are preloaded; leak detection is off
// (Node's own allocations at exit would drown the report; the lifetime tests check leaks by counting).
// The loader is pointed at the ASan build with TSERVER_HA_ADDON_PATH; TSERVER_HA_NATIVE=require turns a
// failed load into a failure instead of a skip; TSERVER_HA_ASAN=1 lets slow tests scale their counts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const run = (cmd, args, env = process.env) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const gccFile = (name) => spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();

// `--reuse-build`: run against the build-asan/ an earlier `npm run test:asan` made (CI's oversubscribed
// stage re-runs timing-sensitive files); without it, or when there is none, build afresh.
const args = process.argv.slice(2);
const reuse = args.includes('--reuse-build');
const findAddon = () => ['Release', 'RelWithDebInfo', 'Debug'].map((d) => `build-asan/${d}/tserver_ha.node`)
  .map((p) => join(root, p)).find((p) => existsSync(p));
if (!reuse || !findAddon()) {
  // A fresh build dir: a cached configuration from another build type or flags would be reused silently.
  rmSync(join(root, 'build-asan'), { recursive: true, force: true });
  // TSHA_SANITIZE (CMakeLists.txt): flags given as CMAKE_CXX_FLAGS are overridden by cmake-js's own.
  run(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--strict', '--', '--out', 'build-asan',
    '--CDTSHA_SANITIZE=address,undefined']);
}
const addon = findAddon();
if (!addon) {
  console.error('test:asan: the ASan build produced no tserver_ha.node under build-asan/');
  process.exit(1);
}
// The build must really be instrumented: every checked load and store calls an __asan_report_* function,
// and UBSan's checks call __ubsan_handle_*. Without these the tests below would prove nothing.
const image = readFileSync(addon).toString('latin1');
for (const sym of ['__asan_report_load', '__asan_report_store', '__ubsan_handle_']) {
  if (!image.includes(sym)) {
    console.error(`test:asan: ${addon} is not instrumented (no ${sym}*): the sanitizer flags did not reach the compiler`);
    process.exit(1);
  }
}
const asan = gccFile('libasan.so');
const ubsan = gccFile('libubsan.so');
if (!existsSync(asan) || !existsSync(ubsan)) {
  console.error(`test:asan: gcc sanitizer runtimes not found (${asan}, ${ubsan})`);
  process.exit(1);
}
// Children of the lifetime tests run dist/: build it without the sanitizer runtime preloaded.
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
const files = args.filter((a) => a !== '--reuse-build');
const tests = files.length ? files : [
  'test/protocol', 'test/transport/conformance.test.ts',
  'test/native/lifetime.test.ts', 'test/native/stall.test.ts', 'test/native/batches.test.ts', 'test/native/limits.test.ts',
  'test/native/accounting.test.ts', 'test/transport/resolve.test.ts',
  // (test/native/loader.test.ts is left out: it tests the search that TSERVER_HA_ADDON_PATH replaces.)
];
console.log(`test:asan: ${addon}\n  LD_PRELOAD=${asan} ${ubsan}`);
run(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...tests], {
  ...process.env,
  LD_PRELOAD: `${asan} ${ubsan}`,
  ASAN_OPTIONS: 'detect_leaks=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  TSERVER_HA_ADDON_PATH: addon,
  TSERVER_HA_NATIVE: 'require',
  TSERVER_HA_ASAN: '1',
});
