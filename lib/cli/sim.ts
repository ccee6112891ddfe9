/**
 * `tserver-ha sim`: run a switch, a primary and a backup T-Server and the management role until stopped.
 */
import { readFileSync } from 'node:fs';
import { startControlServer } from '../sim/control.js';
import { DEFAULT_ROUTE_TIMEOUT_MS, startSimulation, type SwitchoverRecord } from '../sim/index.js';
import { UsageError, intArg, parseCommandArgs, type Command } from './command.js';

const usage = `usage: tserver-ha sim [options]

Starts a simulated switch, a primary and a backup T-Server (real processes on loopback) and a management
role that promotes the backup. Prints the endpoints and a control address; runs until Ctrl-C.

options:
  --mode hot|warm            standby mode (default hot)
  --host ADDR                loopback address to bind: 127.0.0.1 (default) or ::1
  --switch-port N            switch CTI port (0 = pick a free one; same for every port)
  --primary-port N           client port of server A (starts as primary)
  --backup-port N            client port of server B (starts as backup)
  --primary-ha-port N        HA port of server A
  --backup-ha-port N         HA port of server B
  --control-port N           control address (JSON lines)
  --rate N                   switch events per second (default 0: only on demand)
  --route-points N           route points, DNs 7000… (default 4)
  --agents N                 agent DNs, DNs 5000… (default 8)
  --calls N                  calls ringing agents at once (default 16)
  --route-timeout MS         a call unrouted this long goes to its default destination (default 10000, as
                             T-Server's router-timeout; 0: at once, agents ring without a router)
  --promotion-delay MS       wait before promoting the backup, then re-check (default 500)
  --hang-timeout MS          a server silent this long to the manager is hung (default 1000)
  --ha-timeout MS            HA link silence that reports the peer lost (default 1000)
  --no-auto-promote          never promote automatically (faults and manual switchover only)
  --addp-enforce             servers poll silent clients and close them (client's addp-remote-timeout)
  --netns                    run server A in a network namespace so {"kind":"partition"} is a real
                             partition (iptables DROP); needs root, ip and iptables
  --tls                      serve the client ports over TLS with a throwaway CA and a certificate for
                             127.0.0.1, ::1 and localhost; the CA is written to DIR/ca.pem (printed)
  --tls-key FILE --tls-cert FILE [--tls-ca FILE]
                             serve TLS with this key and certificate (PEM) instead (--tls-ca: the CA
                             that issued it, copied to DIR/ca.pem for clients)
  --dir PATH                 where to write oracle.tsv and the CTI logs (default: a temp dir, removed)
  --json                     print the endpoints as one JSON line
  -h, --help                 this text

control address: send one JSON object per line, e.g.
  {"kind":"kill","server":"primary"}   {"kind":"stop","server":"A"}   {"kind":"switchover"}
  {"op":"status"}   {"op":"emit","count":100}   {"op":"rate","rate":5000}   {"op":"oracle"}
  {"op":"numberings"}   {"op":"stop"}   {"kind":"restart","server":"backup","resetSeq":true}
fault kinds: kill stop cont restart silent link-down link-up switchover split-brain resolve-split-brain
  malformed latency refuse duplicate-replies partition (see docs/simulator.md)
`;

async function run(argv: string[]): Promise<number> {
  const v = parseCommandArgs(argv, {
    mode: { type: 'string' },
    host: { type: 'string' },
    'switch-port': { type: 'string' },
    'primary-port': { type: 'string' },
    'backup-port': { type: 'string' },
    'primary-ha-port': { type: 'string' },
    'backup-ha-port': { type: 'string' },
    'control-port': { type: 'string' },
    rate: { type: 'string' },
    'route-points': { type: 'string' },
    agents: { type: 'string' },
    calls: { type: 'string' },
    'route-timeout': { type: 'string' },
    'promotion-delay': { type: 'string' },
    'hang-timeout': { type: 'string' },
    'ha-timeout': { type: 'string' },
    'no-auto-promote': { type: 'boolean' },
    'addp-enforce': { type: 'boolean' },
    netns: { type: 'boolean' },
    tls: { type: 'boolean' },
    'tls-key': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-ca': { type: 'string' },
    dir: { type: 'string' },
    json: { type: 'boolean' },
  }, usage);
  if (!v) return 0;
  const mode = v.mode ?? 'hot';
  if (mode !== 'hot' && mode !== 'warm') throw new UsageError(`--mode must be hot or warm, got '${mode}'`);
  const host = v.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') throw new UsageError(`--host must be 127.0.0.1 or ::1, got '${host}'`);
  const port = (n: string) => intArg(n, v[n as keyof typeof v] as string | undefined, 0, 0, 65535);
  const readPem = (n: 'tls-key' | 'tls-cert' | 'tls-ca'): string | undefined => {
    const path = v[n];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(`--${n}: cannot read '${path}': ${(err as Error).message}`);
    }
  };
  const [key, cert, ca] = [readPem('tls-key'), readPem('tls-cert'), readPem('tls-ca')];
  if ((key === undefined) !== (cert === undefined)) throw new UsageError('--tls-key and --tls-cert go together');
  if (ca !== undefined && key === undefined) throw new UsageError('--tls-ca needs --tls-key and --tls-cert');
  if (v.tls && key !== undefined) throw new UsageError('--tls makes its own certificate: give either --tls or --tls-key/--tls-cert');
  const tls = key !== undefined ? { key, cert: cert!, ...(ca !== undefined ? { ca } : {}) } : Boolean(v.tls);
  const opts = {
    mode: mode as 'hot' | 'warm',
    host,
    ports: {
      switch: port('switch-port'),
      primary: port('primary-port'),
      backup: port('backup-port'),
      primaryHa: port('primary-ha-port'),
      backupHa: port('backup-ha-port'),
    },
    rate: intArg('rate', v.rate, 0, 0, 10_000_000),
    routePoints: intArg('route-points', v['route-points'], 4, 1, 10_000),
    agents: intArg('agents', v.agents, 8, 1, 100_000),
    concurrentCalls: intArg('calls', v.calls, 16, 1, 1_000_000),
    routeTimeoutMs: intArg('route-timeout', v['route-timeout'], DEFAULT_ROUTE_TIMEOUT_MS, 0, 3_600_000),
    promotionDelayMs: intArg('promotion-delay', v['promotion-delay'], 500, 0, 600_000),
    hangTimeoutMs: intArg('hang-timeout', v['hang-timeout'], 1000, 100, 600_000),
    haTimeoutMs: intArg('ha-timeout', v['ha-timeout'], 1000, 100, 600_000),
    autoPromote: !v['no-auto-promote'],
    addpEnforce: Boolean(v['addp-enforce']),
    netns: Boolean(v.netns),
    tls,
    dir: v.dir,
  };
  const controlPort = port('control-port');
  const sim = await startSimulation(opts);
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const control = await startControlServer(sim, sim.host, controlPort, () => done()).catch(async (err: unknown) => {
    await sim.stop();
    throw err;
  });
  const hp = (h: string, p: number) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);
  if (v.json) {
    process.stdout.write(
      JSON.stringify({
        mode: sim.mode,
        switch: sim.switch,
        primary: sim.primary,
        backup: sim.backup,
        control: { host: control.host, port: control.port },
        oracle: sim.oraclePath,
        dir: sim.dir,
        routePoints: sim.routePoints,
        agents: sim.agents,
        routeTimeoutMs: sim.routeTimeoutMs,
        tls: sim.tls ? { caFile: sim.tls.caFile ?? null, generated: sim.tls.generated } : null,
      }) + '\n',
    );
  } else {
    process.stdout.write(
      `tserver-ha sim (${sim.mode} standby)\n` +
        `  switch    ${hp(sim.host, sim.switch.port)}\n` +
        `  primary   A ${hp(sim.host, sim.primary.port)}\n` +
        `  backup    B ${hp(sim.host, sim.backup.port)}\n` +
        `  control   ${hp(control.host, control.port)}  (JSON lines, e.g. {"kind":"kill","server":"primary"})\n` +
        `  oracle    ${sim.oraclePath}\n` +
        `  DNs       route points ${sim.routePoints[0]}…${sim.routePoints.at(-1)}, agents ${sim.agents[0]}…${sim.agents.at(-1)}\n` +
        `  routing   calls wait ${sim.routeTimeoutMs} ms on their route point for RequestRouteCall, then go to their default agent\n` +
        (sim.tls
          ? `  tls       client ports over TLS${sim.tls.caFile ? `; CA ${sim.tls.caFile} (a client's tls: { ca })` : ''}\n`
          : '') +
        `Ctrl-C to stop.\n`,
    );
  }
  sim.events.on('switchover', (r: SwitchoverRecord) =>
    process.stderr.write(`switchover ${r.from} -> ${r.to} (${r.reason}), ${r.promotedAt - r.detectedAt} ms after detection\n`),
  );
  const onSignal = () => done();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  control.close();
  await sim.stop();
  return 0;
}

/** The `sim` subcommand. */
export const command: Command = { summary: 'run a simulated switch and T-Server pair', usage, run };
