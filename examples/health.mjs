// Health checks for a load balancer or Kubernetes, from `pair.state`:
//   /healthz  200 while a primary with a live CTI link takes requests (state.active), else 503;
//   /readyz   200 once open() resolved and until close(); the body is the state as JSON either way.
// `node examples/health.mjs --primary h:p --backup h:p --dns 7000 --port 8080`
import { createServer } from 'node:http';
import { TServerPair } from 'tserver-ha';
import { exampleArgs, untilStopped } from './args.cjs';

const args = exampleArgs();
const pair = new TServerPair({ name: 'ExamplePair', primary: args.primary, backup: args.backup, mode: args.mode, dns: args.dns });
let ready = false;

const body = () => {
  const s = pair.state;
  const ep = (e) => ({ server: e.server, role: e.role, link: e.link, breaker: e.breaker, transport: e.transport, lastError: e.lastError?.message ?? null });
  return JSON.stringify({ open: s.open, active: s.active, source: s.source, queuedRequests: s.queuedRequests, primary: ep(s.endpoints.primary), backup: ep(s.endpoints.backup) });
};
const server = createServer((req, res) => {
  const ok = req.url === '/healthz' ? pair.state.active !== null : req.url === '/readyz' ? ready && pair.state.open : null;
  if (ok === null) return res.writeHead(404).end();
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(body());
});
await new Promise((resolve) => server.listen(args.port, '127.0.0.1', resolve));
console.log(`health on http://127.0.0.1:${server.address().port}/healthz`);
await pair.open();
ready = true;
console.log('ready');
await untilStopped(args.runMs);
ready = false;
server.close();
await pair.close();
console.log('stopped');
