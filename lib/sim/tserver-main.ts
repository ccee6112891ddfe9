/** Child process entry: one simulated T-Server, driven by the parent over IPC. */
import { MessageType, encodeMessage } from '../protocol/index.js';
import { childConfig, childSecrets, runChild, toParent } from './child.js';
import { TServer, type TServerConfig } from './tserver.js';

/** Bytes of a bad frame of the given kind. */
function malformedFrame(variant: string): Buffer {
  switch (variant) {
    case 'oversized': {
      const b = Buffer.alloc(16);
      b.writeUInt32BE(0x7fffffff, 0);
      b[4] = 1;
      b[5] = 1;
      return b;
    }
    case 'bad-version':
      return Buffer.from([0, 0, 0, 2, 9, 1]);
    case 'bad-kind':
      return Buffer.from([0, 0, 0, 2, 1, 77]);
    case 'truncated': {
      // A message that claims 3 attributes and carries none.
      const b = encodeMessage(MessageType.EventACK, {});
      b.writeUInt16BE(3, 10);
      return b;
    }
    default:
      throw new Error(`unknown malformed variant ${variant} (oversized | bad-version | bad-kind | truncated)`);
  }
}

/** Entry point of a T-Server child process. */
function main(): void {
  const cfg = childConfig<TServerConfig>();
  // The client port's TLS key and certificate come in the environment, never on the command line.
  const tls = childSecrets<{ tls?: TServerConfig['tls'] }>()?.tls;
  if (tls) cfg.tls = tls;
  const ts = new TServer(cfg);
  // Ready only once its ports are bound: a parent that saw 'ready' may hand them to clients at once.
  ts.start().then(
    () => toParent({ t: 'ready', name: cfg.name }),
    (err: Error) => {
      process.stderr.write(`tserver ${cfg.name}: ${err.message}\n`);
      process.exit(3);
    },
  );
  runChild(
    (cmd) => {
      switch (cmd.op) {
        case 'role':
          ts.setRole(Number(cmd.role) as 0 | 1);
          break;
        case 'silent':
          ts.setSilent(Boolean(cmd.on));
          break;
        case 'latency':
          ts.latencyMs = Number(cmd.ms);
          break;
        case 'route-reply-latency':
          ts.routeReplyLatencyMs = Number(cmd.ms);
          break;
        case 'refuse':
          ts.setRefusing(Boolean(cmd.on));
          break;
        case 'duplicate-replies':
          ts.duplicateReplies = Boolean(cmd.on);
          break;
        case 'malformed':
          return { clients: ts.sendMalformed(malformedFrame(String(cmd.variant))) };
        case 'status':
          break;
        default:
          throw new Error(`tserver: unknown command ${cmd.op}`);
      }
      return ts.status();
    },
    () => ts.writeRuns(),
  );
}

main();
