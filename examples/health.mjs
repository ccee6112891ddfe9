// Health checks for Kubernetes or a load balancer, from `pair.health()`:
//   /healthz  liveness: 200 while the pair runs (opened, not closed) — it stays 200 through switchovers and
//             outages, so a liveness probe never restarts a pod because a T-Server failed over;
//   /readyz   readiness: 200 while a server takes requests, or none has for less than the grace period
//             (2 s: a switchover takes less); 503 with the reason otherwise. The body is the health as JSON.
// `node examples/health.mjs --primary h:p --backup h:p --dns 7000 --port 8080`
import { createServer } from 'node:http';
import { TServerPair } from 'tserver-ha';
import { exampleArgs, untilStopped } from './args.cjs';

const args = exampleArgs();
const pair = new TServerPair({ name: 'ExamplePair', primary: args.primary, backup: args.backup, mode: args.mode, dns: args.dns });

const server = createServer((req, res) => {
  const h = pair.health();
  const ok = req.url === '/healthz' ? h.live : req.url === '/readyz' ? h.ready : null;
  if (ok === null) return res.writeHead(404).end();
  const s = pair.state;
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ...h, source: s.source, queuedRequests: s.queuedRequests }));
});
await new Promise((resolve) => server.listen(args.port, '127.0.0.1', resolve));
console.log(`health on http://127.0.0.1:${server.address().port}/healthz`);
await pair.open();
console.log('ready');
await untilStopped(args.runMs);
server.close();
await pair.close({ drain: true });
console.log('stopped');
