import { createRequire } from 'node:module';
import type { IoBinding } from './io-records.js';

let cached: IoBinding | null | undefined;

/**
 * `exports.io` of the addon, or null when the addon (or its I/O-thread part) is not available.
 * `TSERVER_HA_ADDON_PATH` points at a specific `.node` file (the ASan build of `npm run test:asan`).
 */
export function ioBinding(): IoBinding | null {
  if (cached !== undefined) return cached;
  cached = null;
  const path = process.env.TSERVER_HA_ADDON_PATH;
  if (path) {
    const b = createRequire(import.meta.url)(path) as { io?: IoBinding };
    cached = b.io ?? null;
  }
  return cached;
}
