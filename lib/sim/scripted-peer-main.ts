/**
 * Child process entry: one scripted peer (scripted-peer.ts) in its own process, so a test can SIGSTOP it
 * and a benchmark can feed events from another core. Forked by test/helpers/child-peer.ts (ChildPeer) with
 * the simulator's child plumbing (child.ts): JSON options as the only argument, `ready` with
 * {port, backupPort, frameBytes} once listening, commands `stream` {rate, batch}, `stop`, `stats`, and it
 * exits when the parent goes.
 */
import { childConfig, runChild, toParent } from './child.js';
import { ScriptedPeer, type ScriptedPeerOptions } from './scripted-peer.js';

async function main(): Promise<void> {
  // A child streams: TCP_NODELAY on, nothing recorded (nobody reads it here), positions from 0.
  const options: ScriptedPeerOptions = { seqBase: 0, noDelay: true, record: false, ...childConfig<ScriptedPeerOptions>() };
  let peer: ScriptedPeer | undefined;
  runChild(
    (cmd) => {
      if (!peer) throw new Error('scripted peer: not listening yet');
      switch (cmd.op) {
        case 'stream':
          peer.stream(Number(cmd.rate ?? 0), Number(cmd.batch ?? 64));
          return true;
        case 'stop':
          peer.stopStream();
          return true;
        case 'stats':
          return peer.stats();
        default:
          throw new Error(`scripted peer: unknown command ${cmd.op}`);
      }
    },
  );
  try {
    peer = await ScriptedPeer.start(options);
  } catch (err) {
    process.stderr.write(`scripted peer: cannot listen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  toParent({ t: 'ready', port: peer.port, backupPort: peer.backupPort, frameBytes: peer.frameBytes });
}

void main();
