// Prometheus metrics: `tserver-ha/metrics` registers the pair's counters, gauges and histograms on a
// prom-client registry (npm install prom-client), served here on /metrics.
// `node examples/metrics.mjs --primary h:p --backup h:p --dns 7000 --port 9464`
import { createServer } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { TServerPair } from 'tserver-ha';
import { collectMetrics } from 'tserver-ha/metrics';
import { exampleArgs, untilStopped } from './args.cjs';

const args = exampleArgs();
const registry = new Registry();
collectDefaultMetrics({ register: registry });
const pair = new TServerPair({ name: 'ExamplePair', primary: args.primary, backup: args.backup, mode: args.mode, dns: args.dns });
const stopMetrics = collectMetrics(pair, { registry });

const server = createServer(async (req, res) => {
  if (req.url !== '/metrics') return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
});
await new Promise((resolve) => server.listen(args.port, '127.0.0.1', resolve));
await pair.open();
console.log(`metrics on http://127.0.0.1:${server.address().port}/metrics`);
await untilStopped(args.runMs);
server.close();
stopMetrics();
await pair.close();
console.log('stopped');
