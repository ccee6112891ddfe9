#!/usr/bin/env node
// Builds and runs the standalone codec core test (npm run test:native-core): g++/clang++ with
// AddressSanitizer and UBSan when available, no Node headers involved.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cxx = process.env.CXX || 'g++';
const out = join(root, 'build', 'codec_test');
mkdirSync(dirname(out), { recursive: true });
const base = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native'),
  join(root, 'native/codec/codec.cc'), join(root, 'native/test/codec_test.cc'), '-o', out];
const sanitize = process.env.TSHA_NO_SANITIZE ? [] : ['-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
let r = spawnSync(cxx, [...sanitize, ...base], { stdio: 'inherit' });
if (r.status !== 0 && sanitize.length) {
  console.warn('codec_test: building with sanitizers failed, retrying without');
  r = spawnSync(cxx, base, { stdio: 'inherit' });
}
if (r.status !== 0) process.exit(r.status ?? 1);
r = spawnSync(out, [join(root, 'test/vectors/vectors.txt')], { stdio: 'inherit', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
process.exit(r.status ?? 1);
