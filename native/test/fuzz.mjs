#!/usr/bin/env node
// npm run fuzz:native [-- seconds]: builds native/test/fuzz_codec.cc with clang + libFuzzer + ASan/UBSan
// (apt-get install clang-14 libfuzzer-14-dev libclang-rt-14-dev) and runs it, seeded from the golden vectors.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const seconds = Number(process.argv[2] ?? 60);
const cxx = process.env.CXX_FUZZ || 'clang++-14';
const out = join(root, 'build', 'fuzz_codec');
const corpus = join(root, '.fuzz', 'corpus');
mkdirSync(dirname(out), { recursive: true });
mkdirSync(corpus, { recursive: true });
// Seed: every vector, prefixed with the 3 limit-selector bytes the harness expects (default limits).
JSON.parse(readFileSync(join(root, 'test/vectors/vectors.json'), 'utf8')).forEach((v, i) =>
  writeFileSync(join(corpus, `vector-${i}`), Buffer.concat([Buffer.from([7, 200, 200]), Buffer.from(v.hex, 'hex')])));
let r = spawnSync(cxx, ['-std=c++17', '-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=all',
  '-I', join(root, 'native'), join(root, 'native/test/fuzz_codec.cc'), join(root, 'native/codec/codec.cc'), '-o', out], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
r = spawnSync(out, [`-max_total_time=${seconds}`, '-print_final_stats=1', corpus], { stdio: 'inherit', cwd: join(root, '.fuzz') });
process.exit(r.status ?? 1);
