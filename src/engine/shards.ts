/**
 * Splits a collection's key space into shards of about equal row counts, so several workers can
 * copy one collection in parallel. Boundaries are found by bisection on count(*) of `pk < x`,
 * which every server answers exactly whether or not it sorts query results. Whatever the balance,
 * the shards are disjoint and together cover every key: [−∞, b1), [b1, b2), …, [bn-1, +∞).
 */
import { DataType } from '../adapters/milvus/proto.js';
import { INT64_MAX, INT64_MIN, type Key, type KeyRange, keyFromJson, keyToJson } from './keys.js';

/** Candidate boundaries as points of an ordered integer domain, mapped to keys. */
interface Domain {
  min: bigint;
  max: bigint;
  keyAt(p: bigint): Key;
}

const INT64_DOMAIN: Domain = { min: INT64_MIN + 1n, max: INT64_MAX, keyAt: (p) => p };

// VarChar candidates: fixed-length strings over printable ASCII, read as base-95 numbers. Keys
// outside that alphabet still land in exactly one shard (the order is Milvus' byte order).
const ALPHABET_FIRST = 0x20;
const ALPHABET = 95n;
const VARCHAR_DIGITS = 10;
const VARCHAR_DOMAIN: Domain = {
  min: 0n,
  max: ALPHABET ** BigInt(VARCHAR_DIGITS) - 1n,
  keyAt(p) {
    const chars: number[] = [];
    for (let i = 0; i < VARCHAR_DIGITS; i++) {
      chars.push(ALPHABET_FIRST + Number(p % ALPHABET));
      p /= ALPHABET;
    }
    // Trailing lowest digits (spaces) only lengthen the literal; dropping them keeps the order.
    return String.fromCharCode(...chars.reverse()).replace(/ +$/, '');
  },
};

export interface SplitOptions {
  /** count(*) of the rows in a key range (of the scope being split). */
  count: (r: KeyRange) => Promise<number>;
  pkType: number;
  /** Rows in the whole scope. */
  total: number;
  shards: number;
  /** Accept a boundary whose shard is within this fraction of the ideal size. */
  tolerance?: number;
}

export async function splitBalanced(opts: SplitOptions): Promise<KeyRange[]> {
  const n = Math.max(1, Math.floor(opts.shards));
  if (n === 1 || opts.total < n) return [{}];
  const domain = opts.pkType === DataType.Int64 ? INT64_DOMAIN : VARCHAR_DOMAIN;
  const tol = Math.max(1, Math.floor((opts.total / n) * (opts.tolerance ?? 0.05)));
  // Every probe is kept: the bisections of later boundaries start from what earlier ones learned.
  const probes: { p: bigint; below: number }[] = [];
  const countBelow = async (p: bigint) => {
    const below = await opts.count({ hi: domain.keyAt(p) });
    probes.push({ p, below });
    return below;
  };
  const bounds: bigint[] = [];
  for (let k = 1; k < n; k++) {
    const want = Math.round((k * opts.total) / n);
    let lo = domain.min;
    let hi = domain.max;
    for (const q of probes) {
      if (q.below < want && q.p >= lo) lo = q.p;
      if (q.below > want && q.p <= hi) hi = q.p;
    }
    let found: bigint | undefined;
    for (const q of probes) if (Math.abs(q.below - want) <= tol) found = q.p;
    while (found === undefined && hi - lo > 1n) {
      const mid = lo + (hi - lo) / 2n;
      const below = await countBelow(mid);
      if (Math.abs(below - want) <= tol) found = mid;
      else if (below < want) lo = mid;
      else hi = mid;
    }
    const b = found ?? hi;
    if (!bounds.length || b > bounds[bounds.length - 1]!) bounds.push(b);
  }
  return rangesBetween(bounds.map((b) => domain.keyAt(b)));
}

/** The ranges that ascending keys cut the key space into (a key repeated cuts once). */
function rangesBetween(keys: Key[]): KeyRange[] {
  const ranges: KeyRange[] = [];
  let lo: Key | undefined;
  for (const k of keys) {
    if (lo !== undefined && lo === k) continue;
    ranges.push({ lo, hi: k });
    lo = k;
  }
  ranges.push({ lo, hi: undefined });
  return ranges;
}

/**
 * Boundaries as JSON-safe strings (keyToJson): n-1 keys make n ranges. What a plan computed once is
 * handed on as text (the operator's shard pods) and turned back into the same ranges.
 */
export function boundsOf(ranges: KeyRange[]): string[] {
  return ranges.slice(1).map((r) => keyToJson(r.lo)!);
}

export function rangesOf(bounds: string[]): KeyRange[] {
  return rangesBetween(bounds.map((b) => keyFromJson(b)!));
}

/**
 * How many shards a collection of `total` rows gets: at most `wanted`, and none smaller than two
 * pages (a shard of fewer is not worth the count(*) calls that find its bounds).
 */
export function shardCount(total: number, wanted: number, rowsPerPage: number): number {
  return Math.max(1, Math.min(wanted, Math.floor(total / Math.max(1, 2 * rowsPerPage))));
}
