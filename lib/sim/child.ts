/**
 * Plumbing shared by the simulator's child processes: the IPC command channel to the parent and the rule
 * that a child never outlives its parent.
 */

/** A command from the parent; `id` correlates the reply. */
export interface IpcCommand {
  t: 'cmd';
  id: number;
  cmd: { op: string; [k: string]: unknown };
}

/** Messages a child sends to the parent. */
export type IpcFromChild =
  | { t: 'ready'; [k: string]: unknown }
  | { t: 'reply'; id: number; result?: unknown; error?: string }
  | { t: 'alive' }
  | { t: 'event'; event: string; [k: string]: unknown };

/** Send to the parent; silently dropped once the channel is gone (we are exiting then anyway). */
export function toParent(msg: IpcFromChild): void {
  if (process.connected && process.send) {
    try {
      process.send(msg);
    } catch {
      /* channel closed between the check and the send */
    }
  }
}

/**
 * Run a child: exit when the parent's IPC channel closes (so a killed test runner leaves no orphans),
 * answer commands with `handle`, and send an `alive` beat every 100 ms (the management role's hang
 * detector: a SIGSTOPped child stops beating).
 */
export function runChild(handle: (cmd: IpcCommand['cmd']) => unknown | Promise<unknown>, onShutdown?: () => void): void {
  if (!process.send) {
    process.stderr.write('this is a simulator child process; start it with startSimulation() or `tserver-ha sim`\n');
    process.exit(2);
  }
  const bye = () => {
    try {
      onShutdown?.();
    } finally {
      process.exit(0);
    }
  };
  process.on('disconnect', bye);
  process.on('SIGTERM', bye);
  // Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
  process.on('SIGINT', () => {});
  process.on('message', (raw: unknown) => {
    const msg = raw as IpcCommand;
    if (msg?.t !== 'cmd') return;
    if (msg.cmd.op === 'shutdown') {
      toParent({ t: 'reply', id: msg.id, result: true });
      setImmediate(bye);
      return;
    }
    Promise.resolve()
      .then(() => handle(msg.cmd))
      .then(
        (result) => toParent({ t: 'reply', id: msg.id, result: result ?? null }),
        (err: unknown) => toParent({ t: 'reply', id: msg.id, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  setInterval(() => toParent({ t: 'alive' }), 100).unref();
  // The IPC channel keeps us alive; the beat timer must not.
}

/** Parse the JSON config a child gets as its only argument. */
export function childConfig<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('missing config argument');
  return JSON.parse(raw) as T;
}

/**
 * The secrets the parent passed in the environment (ChildHandle's `secrets`), or undefined. Removed from
 * `process.env` once read, so nothing this process starts inherits them (its own /proc environ, readable
 * by its owner only, keeps them).
 */
export function childSecrets<T>(): T | undefined {
  const raw = process.env.TSERVER_HA_SIM_SECRETS;
  delete process.env.TSERVER_HA_SIM_SECRETS;
  return raw === undefined ? undefined : (JSON.parse(raw) as T);
}
