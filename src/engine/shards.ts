/**
 * Splits a collection's key space into shards of about equal row counts, so several workers can
 * copy one collection in parallel. Boundaries are found by searching on count(*) of `pk < x`,
 * which every server answers exactly whether or not it sorts query results. The probes run one
 * after another before any copying starts: their number is time every sharded copy waits.
 * Whatever the balance, the shards are disjoint and together cover every key:
 * [−∞, b1), [b1, b2), …, [bn-1, +∞).
 */
import { DataType } from '../adapters/milvus/proto.js';
import { INT64_MAX, INT64_MIN, type Key, type KeyRange, keyFromJson, keyToJson } from './keys.js';

/** Candidate boundaries as points of an ordered integer domain, mapped to keys. */
interface Domain {
  min: bigint;
  max: bigint;
  keyAt(p: bigint): Key;
  /** A point near a key (a start for the search, so it need not be exact). */
  pointOf(k: Key): bigint;
}

const INT64_DOMAIN: Domain = {
  min: INT64_MIN + 1n,
  max: INT64_MAX,
  keyAt: (p) => p,
  pointOf: (k) => (typeof k === 'bigint' ? k : 0n),
};

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
  pointOf(k) {
    let p = 0n;
    for (let i = 0; i < VARCHAR_DIGITS; i++) {
      const c = i < String(k).length ? String(k).charCodeAt(i) - ALPHABET_FIRST : 0;
      p = p * ALPHABET + BigInt(Math.min(Math.max(c, 0), Number(ALPHABET) - 1));
    }
    return p;
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
  /**
   * A key of the scope, if known: the search starts from it. Without one it starts in the middle
   * of the key domain, which can be some 2^60 away from keys that sit together (auto-ids do).
   */
  start?: Key;
}

/** What a split reads: counts by key range and a key to start from (a RangeReader). */
export interface SplitSource {
  count(r: KeyRange): Promise<number>;
  someKey(): Promise<Key | undefined>;
}

/** splitBalanced over a reader's scope, starting at one of its keys; with the probes it took (logged). */
export async function splitScope(
  src: SplitSource,
  o: Omit<SplitOptions, 'count' | 'start'>,
): Promise<{ ranges: KeyRange[]; probes: number }> {
  let probes = 0;
  const ranges = await splitBalanced({
    ...o,
    count: (r) => {
      probes++;
      return src.count(r);
    },
    start: await src.someKey(),
  });
  return { ranges, probes };
}

export async function splitBalanced(opts: SplitOptions): Promise<KeyRange[]> {
  const n = Math.max(1, Math.floor(opts.shards));
  if (n === 1 || opts.total < n) return [{}];
  const domain = opts.pkType === DataType.Int64 ? INT64_DOMAIN : VARCHAR_DOMAIN;
  const tol = Math.max(1, Math.floor((opts.total / n) * (opts.tolerance ?? 0.05)));
  // Every probe is kept: the searches of later boundaries start from what earlier ones learned.
  const probes: Probe[] = [];
  const countBelow = async (p: bigint): Promise<Probe> => {
    const probe = { p, below: await opts.count({ hi: domain.keyAt(p) }), probed: true };
    probes.push(probe);
    return probe;
  };
  if (opts.start !== undefined) {
    // Into the domain: the int64 key -2^63 is below it (Milvus 2.3 cannot parse that literal).
    let p = domain.pointOf(opts.start);
    if (p < domain.min) p = domain.min;
    if (p > domain.max) p = domain.max;
    await countBelow(p);
  }
  const bounds: bigint[] = [];
  for (let k = 1; k < n; k++) {
    const want = Math.round((k * opts.total) / n);
    let found = probes.find((q) => Math.abs(q.below - want) <= tol)?.p;
    let lo: Probe = { p: domain.min, below: 0, probed: false };
    let hi: Probe = { p: domain.max, below: opts.total, probed: false };
    for (const q of probes) {
      if (q.below < want && q.p >= lo.p) lo = q;
      if (q.below > want && q.p <= hi.p) hi = q;
    }
    // With one end of the bracket still the domain's, the keys may lie anywhere from 1 to 2^64
    // away from the probed end: search the exponent of that distance first (about 6 probes, where
    // bisecting the whole domain takes some 45 to find keys that sit together, as most do).
    let scale: { anchor: bigint; dir: bigint; eLo: number; eHi: number } | undefined;
    let interpolate = true;
    while (found === undefined && hi.p - lo.p > 1n) {
      const width = hi.p - lo.p;
      if (!scale && lo.probed !== hi.probed) {
        scale = {
          anchor: lo.probed ? lo.p : hi.p,
          dir: lo.probed ? 1n : -1n,
          eLo: 0,
          eHi: width.toString(2).length,
        };
      }
      const e = scale && scale.eHi - scale.eLo > 1 ? (scale.eLo + scale.eHi) >> 1 : undefined;
      let mid: bigint;
      if (scale && e !== undefined) mid = scale.anchor + scale.dir * (1n << BigInt(e));
      else if (lo.probed && hi.probed && interpolate) {
        mid = lo.p + (width * BigInt(want - lo.below)) / BigInt(hi.below - lo.below);
      } else mid = lo.p + width / 2n;
      mid = mid <= lo.p ? lo.p + 1n : mid >= hi.p ? hi.p - 1n : mid;
      const q = await countBelow(mid);
      if (Math.abs(q.below - want) <= tol) found = mid;
      else if (q.below < want) lo = q;
      else hi = q;
      if (scale && e !== undefined) {
        if (q.below < want === (scale.dir === 1n)) scale.eLo = e;
        else scale.eHi = e;
      }
      // Interpolation assumes evenly spread keys; where they are not, it may cut off little of the
      // bracket, and bisection takes the next step, so that every two probes at least halve it.
      interpolate = !interpolate || hi.p - lo.p <= width / 2n;
    }
    const b = found ?? hi.p;
    if (!bounds.length || b > bounds[bounds.length - 1]!) bounds.push(b);
  }
  return rangesBetween(bounds.map((b) => domain.keyAt(b)));
}

interface Probe {
  p: bigint;
  /** count(*) of keys below p (for an end of the domain that was never probed: 0 or the total). */
  below: number;
  probed: boolean;
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
