/**
 * The oracle: the switch's append-only log of every event it emitted, and the comparison that counts
 * lost and duplicated events at a client. Format in docs/simulator.md.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

/** One emitted event. */
export interface OracleEvent {
  seq: number;
  /** Message name, e.g. `EventRouteRequest`. */
  type: string;
  thisDN: string;
  connId: bigint;
  /** Wall-clock microseconds when the switch emitted it. */
  timeUs: number;
  /** Bit mask of the CTI links it was written to: 1 = server A, 2 = server B. */
  links: number;
}

/** A `#` line: link up/down at the switch, with the last seq emitted at that moment. */
export interface OracleNote {
  timeUs: number;
  text: string;
}

/**
 * A `# … route …` note: a call left its route point. `by` is `request` (a T-Server routed it for a client:
 * `server` names it), `timeout` (its route timeout sent it to its default destination) or `overflow` (too
 * many calls waiting: the oldest went to its default destination).
 */
export interface OracleRoute {
  timeUs: number;
  connId: bigint;
  routePoint: string;
  /** The agent DN the call rings. */
  destination: string;
  by: 'request' | 'timeout' | 'overflow';
  /** `A`/`B` for a request, else ''. */
  server: string;
  /** The last seq the switch had emitted when the decision was made. */
  afterSeq: number;
}

/** The parsed oracle file. */
export interface Oracle {
  events: OracleEvent[];
  notes: OracleNote[];
  /** The route notes, parsed (they are in `notes` too). */
  routes: OracleRoute[];
}

function parseInto(text: string, into: Oracle): void {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const [t, ...rest] = line.slice(2).split('\t');
      into.notes.push({ timeUs: Number(t), text: rest.join('\t') });
      if (rest[0] === 'route') {
        const [, conn, rp, dest, by, server, after] = rest;
        into.routes.push({ timeUs: Number(t), connId: BigInt(conn!), routePoint: rp!, destination: dest!, by: by as OracleRoute['by'], server: server ?? '', afterSeq: Number(after) });
      }
      continue;
    }
    const [seq, type, dn, conn, time, links] = line.split('\t');
    into.events.push({ seq: Number(seq), type: type!, thisDN: dn!, connId: BigInt(conn!), timeUs: Number(time), links: Number(links) });
  }
}

/** Read and parse an oracle file (oracle.tsv). */
export function readOracle(path: string): Oracle {
  const o: Oracle = { events: [], notes: [], routes: [] };
  parseInto(readFileSync(path, 'utf8'), o);
  return o;
}

/**
 * Reads an oracle file incrementally: each {@link OracleReader.read} parses only the complete lines
 * appended since the previous one (for long runs, where re-reading the whole file each time is quadratic).
 */
export class OracleReader {
  private offset = 0;
  constructor(private readonly path: string) {}

  /** The lines appended since the last call (complete lines only). */
  read(): Oracle {
    const out: Oracle = { events: [], notes: [], routes: [] };
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return out;
      const buf = Buffer.allocUnsafe(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      const end = buf.lastIndexOf(10, n - 1);
      if (end < 0) return out;
      this.offset += end + 1;
      parseInto(buf.toString('utf8', 0, end + 1), out);
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/** Result of {@link compareWithOracle}. */
export interface OracleComparison {
  /** Events the oracle says were emitted on the DNs, in the seq range compared. */
  expected: number;
  /** Distinct seqs the client received that the oracle also has. */
  received: number;
  /** Expected seqs the client never received. */
  lost: number[];
  /** Seqs the client received more than once (each listed once). */
  duplicated: number[];
  /** Seqs the client received that the oracle does not list for those DNs (should never happen). */
  unexpected: number[];
}

/**
 * Compare the seqs a client received against the oracle, for the DNs it registered and seqs in
 * `(afterSeq, upToSeq]` (afterSeq: what EventRegistered reported; upToSeq: where the run stopped).
 */
export function compareWithOracle(
  oracle: Oracle,
  receivedSeqs: Iterable<number>,
  dns: Iterable<string>,
  range: { afterSeq?: number; upToSeq?: number } = {},
): OracleComparison {
  const want = new Set(dns);
  const after = range.afterSeq ?? 0;
  const upTo = range.upToSeq ?? Number.MAX_SAFE_INTEGER;
  const expected = new Set<number>();
  for (const e of oracle.events) if (e.seq > after && e.seq <= upTo && want.has(e.thisDN)) expected.add(e.seq);
  const seen = new Set<number>();
  const dup = new Set<number>();
  const unexpected: number[] = [];
  for (const s of receivedSeqs) {
    if (s <= after || s > upTo) continue;
    if (seen.has(s)) dup.add(s);
    else {
      seen.add(s);
      if (!expected.has(s)) unexpected.push(s);
    }
  }
  const lost: number[] = [];
  for (const s of expected) if (!seen.has(s)) lost.push(s);
  return { expected: expected.size, received: seen.size - unexpected.length, lost, duplicated: [...dup].sort((a, b) => a - b), unexpected };
}

/** Read the seq runs a T-Server received on its CTI link (cti-A.json / cti-B.json). */
export function readCtiRuns(path: string): [number, number][] {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as [number, number][];
  } catch {
    return [];
  }
}
