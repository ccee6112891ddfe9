// CommonJS: `require('tserver-ha')` works on Node >= 20.19 (require(esm)); the package is ESM.
// `node examples/commonjs.cjs --primary h:p --backup h:p --dns 7000`
'use strict';
const { TServerPair, nativeStatus } = require('tserver-ha');
const { exampleArgs, untilStopped } = require('./args.cjs');

async function main() {
  const args = exampleArgs();
  const pair = new TServerPair({ name: 'ExamplePair', primary: args.primary, backup: args.backup, mode: args.mode, dns: args.dns });
  pair.on('switchover', (s) => console.log(`switchover ${s.from} -> ${s.to} (${s.reason})`));
  await pair.open();
  console.log(`open: requests go to ${pair.state.active}; native addon loaded: ${nativeStatus().loaded}`);
  await untilStopped(args.runMs);
  await pair.close();
  console.log(`closed; delivered ${pair.stats.delivered} events`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
