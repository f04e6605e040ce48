/**
 * Server versions and what each can hold. Milvus reports versions like "v2.3.5-lite" or "v2.4.13";
 * milvus-lite reports "milvus_lite-3.2.2", which is its own line with roughly Milvus 2.5 features.
 */

import { EMBEDDED_LITE_VERSION } from '../adapters/milvus/client.js';

export const SOURCE_FLOOR = '2.3.0';

export interface ServerVersion {
  raw: string;
  kind: 'milvus' | 'milvus-lite' | 'unknown';
  /**
   * The embedded Milvus Lite (milvus-lite 2.4/2.5, a local Milvus binary): reports no version, has
   * no partitions or aliases; read as a source, refused as a target (see planner.ts).
   */
  embedded?: boolean;
  /** Milvus feature level as [major, minor, patch]; unknown servers are assumed current. */
  level: [number, number, number];
  /** milvus-lite 3.x: its own version, for what it keeps beyond its Milvus level (schema.ts). */
  liteLevel?: [number, number, number];
}

export function parseVersion(raw: string): ServerVersion {
  if (raw === EMBEDDED_LITE_VERSION)
    return {
      raw: 'Milvus Lite (embedded; reports no version)',
      kind: 'milvus-lite',
      embedded: true,
      level: [2, 5, 0],
    };
  const lite = /milvus[_-]lite-?v?(\d+)\.(\d+)\.(\d+)/i.exec(raw);
  if (lite)
    return {
      raw,
      kind: 'milvus-lite',
      level: [2, 5, 0],
      liteLevel: [Number(lite[1]), Number(lite[2]), Number(lite[3])],
    };
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(raw);
  if (m) return { raw, kind: 'milvus', level: [Number(m[1]), Number(m[2]), Number(m[3])] };
  return { raw, kind: 'unknown', level: [99, 0, 0] };
}

export function atLeast(v: ServerVersion, min: string): boolean {
  return levelAtLeast(v.level, min);
}

export function levelAtLeast(level: [number, number, number], min: string): boolean {
  const [a, b, c] = min.split('.').map(Number) as [number, number, number];
  const [x, y, z] = level;
  return x !== a ? x > a : y !== b ? y > b : z >= c;
}
