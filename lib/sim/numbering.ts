/**
 * Numbering epochs of the simulated T-Servers (docs/simulator.md, "Numbering"). A server's numbering is a
 * (label, base) pair: it forwards the switch's event seq `s` as `s - base` and names the numbering in
 * EventServerInfo Extensions `seq-epoch`. Sequence numbers compare only within one label; these helpers
 * map a client's (label, seq) pairs back to switch seqs so they can be checked against the oracle.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { compareWithOracle, type Oracle, type OracleComparison } from './oracle.js';

/** One numbering a simulation has used. */
export interface NumberingRecord {
  /** The `seq-epoch` string: `sw-<8 hex>` for the one both servers start with, `A-…`/`B-…` after a reset. */
  label: string;
  /**
   * Switch seq of position 0: the server forwards switch seq `s` as `s - base`. `null` while a server
   * restarted with `resetSeq` waits for its first CTI link-up (its base is the switch's last seq then).
   */
  base: number | null;
  /** Servers that used it, in order of first use (both share the first one). */
  servers: ('A' | 'B')[];
  /** Wall-clock ms when the label was made. */
  createdAt: number;
}

/** A sequence number as a client received it: in the numbering `label` (its server's `seq-epoch`). */
export interface NumberedSeq {
  label: string;
  seq: number;
}

/** A fresh label: `<prefix>-<8 hex>`. */
export function newLabel(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * A function mapping `(label, seq)` to the switch seq, from {@link NumberingRecord}s. Throws
 * {@link ConfigError} for an unknown label or one whose base is not known yet.
 */
export function numberingMap(records: readonly NumberingRecord[]): (label: string, seq: number) => number {
  const bases = new Map<string, number | null>(records.map((r) => [r.label, r.base]));
  return (label, seq) => {
    const base = bases.get(label);
    if (base === undefined) throw new ConfigError(`unknown numbering label ${JSON.stringify(label)}`);
    if (base === null) throw new ConfigError(`numbering ${label} has no base yet (its server's CTI link never came up)`);
    return base + seq;
  };
}

/** Result of {@link compareNumberedWithOracle}: the oracle comparison plus what could not be mapped. */
export interface NumberedOracleComparison extends OracleComparison {
  /** Received pairs whose label is unknown or has no base yet (should never happen). */
  unmapped: NumberedSeq[];
}

/**
 * {@link compareWithOracle} for a client that received events from servers in different numberings: every
 * `(label, seq)` is mapped to its switch seq first. `range` bounds are switch seqs, or `(label, seq)`
 * pairs (e.g. an EventRegistered position) that are mapped the same way. Duplicates are counted on the
 * switch seq, so the same event received in two numberings is a duplicate.
 */
export function compareNumberedWithOracle(
  oracle: Oracle,
  numberings: readonly NumberingRecord[],
  received: Iterable<NumberedSeq>,
  dns: Iterable<string>,
  range: { afterSeq?: number | NumberedSeq; upToSeq?: number | NumberedSeq } = {},
): NumberedOracleComparison {
  const map = numberingMap(numberings);
  const bound = (b: number | NumberedSeq | undefined) => (b === undefined || typeof b === 'number' ? b : map(b.label, b.seq));
  const seqs: number[] = [];
  const unmapped: NumberedSeq[] = [];
  for (const r of received) {
    try {
      seqs.push(map(r.label, r.seq));
    } catch {
      unmapped.push(r);
    }
  }
  return { ...compareWithOracle(oracle, seqs, dns, { afterSeq: bound(range.afterSeq), upToSeq: bound(range.upToSeq) }), unmapped };
}
