// Shared by the examples: the servers and DNs from argv (--primary h:p --backup h:p --dns a,b --mode hot
// --run-ms N --port N) or the environment (TSHA_PRIMARY, TSHA_BACKUP, TSHA_DNS, TSHA_MODE, TSHA_RUN_MS,
// TSHA_PORT). Plain CommonJS so both the .mjs and the .cjs examples can load it.
'use strict';
const { parseArgs } = require('node:util');

function address(what, v) {
  const m = /^(.+):(\d+)$/.exec(v ?? '');
  if (!m) throw new Error(`--${what} host:port is required (or TSHA_${what.toUpperCase()})`);
  return { host: m[1], port: Number(m[2]) };
}

function exampleArgs(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      primary: { type: 'string', default: process.env.TSHA_PRIMARY },
      backup: { type: 'string', default: process.env.TSHA_BACKUP },
      dns: { type: 'string', default: process.env.TSHA_DNS ?? '' },
      mode: { type: 'string', default: process.env.TSHA_MODE ?? 'hot' },
      'run-ms': { type: 'string', default: process.env.TSHA_RUN_MS ?? '0' },
      port: { type: 'string', default: process.env.TSHA_PORT ?? '0' },
    },
  });
  return {
    primary: address('primary', values.primary),
    backup: address('backup', values.backup),
    dns: values.dns.split(',').filter(Boolean),
    mode: values.mode,
    runMs: Number(values['run-ms']),
    port: Number(values.port),
  };
}

/** Resolve on SIGINT/SIGTERM, or after `runMs` when it is above 0. */
function untilStopped(runMs) {
  return new Promise((resolve) => {
    const done = (why) => {
      clearTimeout(timer);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(why);
    };
    const onInt = () => done('SIGINT');
    const onTerm = () => done('SIGTERM');
    const timer = runMs > 0 ? setTimeout(done, runMs, 'timer') : undefined;
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

module.exports = { exampleArgs, untilStopped };
