// Route every call: answer each EventRouteRequest with RequestRouteCall to the first agent DN, and say
// what the pair does around failures. `node examples/route.mjs --primary h:p --backup h:p --dns RP,AGENT`
import { TServerPair, MessageType, SwitchoverError, ClosedError } from 'tserver-ha';
import { exampleArgs, untilStopped } from './args.cjs';

const args = exampleArgs();
const [routePoint, target = '5000'] = args.dns;
const pair = new TServerPair({
  name: 'ExamplePair',
  primary: args.primary,
  backup: args.backup,
  mode: args.mode,
  applicationName: 'ExampleRouter',
  dns: args.dns,
});

let routed = 0;
pair.on('EventServerConnected', (e) => console.log(`connected ${e.source} (role ${e.role})`));
pair.on('EventServerDisconnected', (e) => console.log(`lost ${e.source}: ${e.reason}`));
pair.on('switchover', (s) => console.log(`switchover ${s.from} -> ${s.to} (${s.reason}), ${s.replayed} events replayed`));
pair.on('gap', (g) => console.log(`gap ${g.fromSeq}..${g.toSeq} (${g.reason})`));
pair.on('error', (err) => console.error(`error ${err.code ?? ''} ${err.message}`));
pair.on('event', async (e) => {
  if (e.type !== MessageType.EventRouteRequest || e.get('ThisDN') !== routePoint) return;
  try {
    await pair.request('RequestRouteCall', { ThisDN: routePoint, ConnID: e.get('ConnID'), OtherDN: target, RouteType: 2 }, { timeoutMs: 1000 });
    routed++;
  } catch (err) {
    // Sent to a server that died before answering: it may or may not have run (docs/semantics.md).
    // ClosedError: an event that arrived while we stop (the call goes to its default destination).
    if (!(err instanceof SwitchoverError) && !(err instanceof ClosedError)) console.error(`route failed: ${err.code} ${err.message}`);
  }
});

await pair.open();
console.log(`open: requests go to ${pair.state.active}, transport ${pair.state.endpoints.primary.transport}`);
await untilStopped(args.runMs);
// Routes already sent get their answers (each has its 1 s deadline); new ones are refused meanwhile.
await pair.close({ drain: true });
console.log(`routed ${routed} calls; delivered ${pair.stats.delivered} events`);
