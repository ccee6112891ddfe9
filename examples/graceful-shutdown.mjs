// Graceful shutdown: on SIGTERM or SIGINT, `pair.close({ drain: true })` stops taking new requests, lets
// those in flight settle (each has its deadline, so this is bounded), then closes both connections; exit 0.
// A second signal, or the close taking longer than 10 s, exits at once.
// `node examples/graceful-shutdown.mjs --primary h:p --backup h:p --dns RP,AGENT`
import { TServerPair, MessageType } from 'tserver-ha';
import { exampleArgs } from './args.cjs';

const args = exampleArgs();
const [routePoint, target = '5000'] = args.dns;
const pair = new TServerPair({ name: 'ExamplePair', primary: args.primary, backup: args.backup, mode: args.mode, dns: args.dns });
let stopping = false;

pair.on('event', (e) => {
  if (stopping || e.type !== MessageType.EventRouteRequest || e.get('ThisDN') !== routePoint) return;
  pair.request('RequestRouteCall', { ThisDN: routePoint, ConnID: e.get('ConnID'), OtherDN: target, RouteType: 2 }, { timeoutMs: 1000 })
    .catch(() => {}); // unrouted calls go to their default destination
});

async function shutdown(signal) {
  if (stopping) process.exit(1); // second signal: do not wait
  stopping = true;
  const st = pair.state;
  console.log(`${signal}: stopping, ${st.queuedRequests + st.endpoints.primary.pendingRequests + st.endpoints.backup.pendingRequests} requests in flight`);
  const force = setTimeout(() => {
    console.error('close took longer than 10 s');
    process.exit(1);
  }, 10_000);
  force.unref();
  await pair.close({ drain: true });
  console.log(`closed cleanly after ${pair.stats.delivered} events`);
  process.exitCode = 0;
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await pair.open();
console.log(`open: requests go to ${pair.state.active}`);
if (args.runMs > 0) setTimeout(() => void shutdown('timer'), args.runMs);
