import { isTransportAvailable } from '../../lib/transport/index.js';
import '../../lib/native/register.js';

/**
 * Transports the pair tests run on: node always; native when the addon loaded (and then it must, when
 * TSERVER_HA_NATIVE=require, as in CI).
 */
export function transportsUnderTest(): ('node' | 'native')[] {
  const out: ('node' | 'native')[] = ['node'];
  if (isTransportAvailable('native')) out.push('native');
  else if (process.env.TSERVER_HA_NATIVE === 'require') throw new Error('TSERVER_HA_NATIVE=require but the native transport is not available');
  return out;
}
