// Graceful shutdown: on SIGTERM or SIGINT stop taking new work, let requests in flight settle (each has
// its deadline, so this is bounded), close the pair (both connections, orderly), then exit 0. A second
// signal, or the close taking longer than 10 s, exits at once.
// `node examples/graceful-shutdown.mjs --primary h:p --backup h:p --dns RP,AGENT`
import { TServerPair, MessageType } from 'tserver-ha';
import { exampleArgs } from './args.cjs';

const args = exampleArgs();
const [routePoint, target = '5000'] = args.dns;
const pair = new TServerPair({ name: 'ExamplePair', primary: args.primary, backup: args.backup, mode: args.mode, dns: args.dns });
const inFlight = new Set();
let stopping = false;

pair.on('event', (e) => {
  if (stopping || e.type !== MessageType.EventRouteRequest || e.get('ThisDN') !== routePoint) return;
  const p = pair.request('RequestRouteCall', { ThisDN: routePoint, ConnID: e.get('ConnID'), OtherDN: target, RouteType: 2 }, { timeoutMs: 1000 })
    .catch(() => {}) // unrouted calls go to their default destination
    .finally(() => inFlight.delete(p));
  inFlight.add(p);
});

async function shutdown(signal) {
  if (stopping) process.exit(1); // second signal: do not wait
  stopping = true;
  console.log(`${signal}: stopping, ${inFlight.size} requests in flight`);
  const force = setTimeout(() => {
    console.error('close took longer than 10 s');
    process.exit(1);
  }, 10_000);
  force.unref();
  await Promise.allSettled([...inFlight]);
  await pair.close();
  console.log(`closed cleanly after ${pair.stats.delivered} events`);
  process.exitCode = 0;
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await pair.open();
console.log(`open: requests go to ${pair.state.active}`);
if (args.runMs > 0) setTimeout(() => void shutdown('timer'), args.runMs);
