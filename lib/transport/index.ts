/**
 * Transport selection: `createTransport(options, 'auto' | 'native' | 'node')`. The node transport is built
 * in; the native one registers itself here (`registerTransport('native', …)`) when its addon loads, so this
 * module never imports the addon and works where it cannot be built. With `TSERVER_HA_NATIVE=require`, resolving
 * any kind (so constructing a pair, or creating a transport) throws NativeUnavailableError when the addon
 * did not load.
 * @packageDocumentation
 */
import { ConfigError } from '../errors.js';
import { assertNativeRequirement, nativeFix, nativeStatus } from '../native/loader.js';
import { NodeTransport } from './node-transport.js';
import type { Transport, TransportFactory, TransportOptions } from './types.js';

export * from './types.js';
export { NodeTransport } from './node-transport.js';
export { TransportBase, CLOSE_GRACE_MS, type TransportState } from './transport-base.js';
export { NodeFrameBatch } from './frame-batch.js';
export { HoldWindow } from './hold-window.js';

/** Which implementation to use; `auto` = native when registered and no TLS is asked for, else node. */
export type TransportKind = 'auto' | 'native' | 'node';

const registry = new Map<'native' | 'node', TransportFactory>([['node', (o) => new NodeTransport(o)]]);

/**
 * Make a transport implementation available to {@link createTransport}. The native addon calls this with
 * `'native'` when it loads. Registering a kind again replaces the previous factory.
 */
export function registerTransport(kind: 'native' | 'node', factory: TransportFactory): void {
  if (kind !== 'native' && kind !== 'node') throw new ConfigError(`unknown transport kind ${String(kind)}`);
  if (typeof factory !== 'function') throw new ConfigError('registerTransport needs a factory function');
  registry.set(kind, factory);
}

/** Remove a registered native factory (tests). The node transport cannot be removed. */
export function unregisterTransport(kind: 'native'): void {
  registry.delete(kind);
}

/** True when {@link createTransport} can build `kind` (`auto` and `node` always can). */
export function isTransportAvailable(kind: TransportKind): boolean {
  return kind === 'auto' || registry.has(kind);
}

/**
 * The concrete kind `auto` resolves to for these options. Throws ConfigError for a kind that cannot be
 * built, and NativeUnavailableError when `TSERVER_HA_NATIVE=require` and the addon did not load (whatever
 * the kind: the setting is for the whole process).
 */
export function resolveTransportKind(options: Pick<TransportOptions, 'tls'>, kind: TransportKind = 'auto'): 'native' | 'node' {
  assertNativeRequirement();
  if (kind === 'node') return 'node';
  if (kind === 'native') {
    if (options.tls) throw new ConfigError("transport 'native' does not do TLS; use 'node' or 'auto'");
    if (!registry.has('native')) {
      const why = nativeStatus().reason;
      throw new ConfigError(`transport 'native' is not available: ${why ? `the addon is not loaded (${why}). ${nativeFix()}` : 'the native transport is not registered (import tserver-ha, not only tserver-ha/protocol)'}`);
    }
    return 'native';
  }
  if (kind !== 'auto') throw new ConfigError(`transport kind must be 'auto', 'native' or 'node', got ${String(kind)}`);
  return registry.has('native') && !options.tls ? 'native' : 'node';
}

/** Create one connection (not yet connected: call `connect()`). Throws ConfigError for bad options or an unavailable kind. */
export function createTransport(options: TransportOptions, kind: TransportKind = 'auto'): Transport {
  if (!options || typeof options !== 'object') throw new ConfigError('transport options must be an object');
  return registry.get(resolveTransportKind(options, kind))!(options);
}
