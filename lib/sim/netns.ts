/**
 * A real network partition: one T-Server runs in a network namespace of its own, reached over a veth pair
 * on a private /30; the partition is iptables DROP inside that namespace (both directions). Needs root,
 * `ip` and `iptables`; {@link netnsSupport} says why not otherwise.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

/** Whether real partitions can run here, and if not, why. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root' };
  for (const [tool, flag] of [['ip', '-V'], ['iptables', '--version']] as const) {
    try {
      execFileSync(tool, [flag], { stdio: 'ignore' });
    } catch {
      return { ok: false, reason: `\`${tool}\` is not installed` };
    }
  }
  const probe = `tsha-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    try {
      execFileSync('ip', ['netns', 'exec', probe, 'iptables', '-L', '-n'], { stdio: 'pipe' });
    } finally {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    }
  } catch (err) {
    return { ok: false, reason: `ip netns / iptables failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` };
  }
  return { ok: true };
}

/** A namespace with a veth pair: `hostAddr` on our side, `nsAddr` inside. */
export interface Netns {
  readonly name: string;
  readonly hostAddr: string;
  readonly nsAddr: string;
  /** Command prefix that runs a program inside the namespace. */
  readonly exec: string[];
  /** Drop (or stop dropping) every packet in and out of the namespace. */
  partition(on: boolean): void;
  readonly partitioned: boolean;
  /** Delete the namespace (and with it the veth pair). Idempotent. */
  destroy(): void;
}

const created = new Set<Netns>();
let hook = false;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** Create a namespace with a veth pair on a random private 10.254.x.y/30. */
export function createNetns(): Netns {
  const tag = `${process.pid % 100000}${randomInt(100, 999)}`;
  const name = `tsha-${tag}`;
  const hostIf = `tsh${tag}h`.slice(0, 15);
  const nsIf = `tsh${tag}n`.slice(0, 15);
  const net = `10.254.${randomInt(0, 256)}.${randomInt(0, 64) * 4}`;
  const base = net.split('.').map(Number);
  const hostAddr = `${base[0]}.${base[1]}.${base[2]}.${base[3]! + 1}`;
  const nsAddr = `${base[0]}.${base[1]}.${base[2]}.${base[3]! + 2}`;
  let alive = true;
  let partitioned = false;
  const destroy = () => {
    if (!alive) return;
    alive = false;
    created.delete(ns);
    try {
      ip('netns', 'del', name);
    } catch {
      /* already gone */
    }
    try {
      ip('link', 'del', hostIf);
    } catch {
      /* deleted with the namespace */
    }
  };
  const ns: Netns = {
    name,
    hostAddr,
    nsAddr,
    exec: ['ip', 'netns', 'exec', name],
    get partitioned() {
      return partitioned;
    },
    partition(on: boolean) {
      if (on === partitioned) return;
      const op = on ? '-I' : '-D';
      for (const chain of ['INPUT', 'OUTPUT']) execFileSync('ip', ['netns', 'exec', name, 'iptables', op, chain, '-j', 'DROP'], { stdio: 'pipe' });
      partitioned = on;
    },
    destroy,
  };
  try {
    ip('netns', 'add', name);
    created.add(ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf);
    ip('netns', 'exec', name, 'ip', 'link', 'set', nsIf, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    destroy();
    throw err;
  }
  if (!hook) {
    hook = true;
    process.on('exit', () => {
      for (const n of [...created]) n.destroy();
    });
  }
  return ns;
}
