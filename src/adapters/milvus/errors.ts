import { status as GrpcStatus } from '@grpc/grpc-js';

export interface MilvusStatus {
  error_code?: number;
  reason?: string;
  code?: number;
  retriable?: boolean;
}

/**
 * What went wrong with a call, decided once where the failure is seen (the transport or the
 * server's status) so that retry policy and messages never read error text:
 * - connect: no connection could be made (refused, unreachable, no HTTP/2 session); nothing was sent.
 * - tls: the TLS handshake failed; nothing was sent.
 * - protocol: the peer does not speak gRPC over HTTP/2 as expected.
 * - dropped-after-send: the connection ended after (some of) the request went out, before a reply.
 * - deadline: no reply within the call's deadline.
 * - unavailable: the server (or a load balancer before it) said it cannot serve now (GOAWAY
 *   before processing, REFUSED_STREAM, HTTP 502/503/504, Milvus "not ready").
 * - rate-limited, quota: the server asks us to slow down (Milvus rate limits, memory/disk quotas).
 * - too-large: a message above a size limit (ours or the server's).
 * - not-loaded: the collection is not loaded on the server (released, or a restarted server has not
 *   loaded it again yet): reads of it fail until it is.
 * - auth, permission, not-found, unimplemented, cancelled: as named.
 * - server-error: the server answered with any other failure.
 */
export type ErrorKind =
  | 'connect'
  | 'tls'
  | 'protocol'
  | 'dropped-after-send'
  | 'deadline'
  | 'unavailable'
  | 'rate-limited'
  | 'quota'
  | 'too-large'
  | 'not-loaded'
  | 'auth'
  | 'permission'
  | 'not-found'
  | 'unimplemented'
  | 'cancelled'
  | 'server-error';

export interface MilvusErrorDetails {
  /** The gRPC status of the call, when the failure is a gRPC one (never a Milvus code). */
  grpcCode?: number;
  /** The Milvus status `code` (merr codes, 2.3+), when the server answered with a failed status. */
  milvusCode?: number;
  /** The Milvus legacy `error_code` (common.ErrorCode), when the server answered with one. */
  legacyCode?: number;
  /**
   * The request may have reached the server and been carried out although no success came back:
   * a write retried after such a failure must first find out what landed.
   */
  ambiguous?: boolean;
  /** The server marked its failure as retriable. */
  retriable?: boolean;
}

/** A failed Milvus call, of one kind (see ErrorKind); gRPC and Milvus codes kept apart. */
export class MilvusError extends Error {
  override name = 'MilvusError';
  readonly grpcCode: number | undefined;
  readonly milvusCode: number | undefined;
  readonly legacyCode: number | undefined;
  readonly ambiguous: boolean;
  readonly retriable: boolean;
  constructor(
    message: string,
    readonly method: string,
    readonly kind: ErrorKind,
    d: MilvusErrorDetails = {},
  ) {
    super(message);
    this.grpcCode = d.grpcCode;
    this.milvusCode = d.milvusCode;
    this.legacyCode = d.legacyCode;
    this.ambiguous = Boolean(d.ambiguous);
    this.retriable = Boolean(d.retriable);
  }
}

/** The kind of a gRPC status a server (or a proxy in front of it) sent. */
export function grpcKind(code: number): ErrorKind {
  switch (code) {
    case GrpcStatus.UNAVAILABLE:
      return 'unavailable';
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 'deadline';
    // gRPC servers send RESOURCE_EXHAUSTED for a message over their size limit; Milvus reports
    // rate limits and quotas in its own status, never with this code.
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'too-large';
    case GrpcStatus.UNAUTHENTICATED:
      return 'auth';
    case GrpcStatus.PERMISSION_DENIED:
      return 'permission';
    case GrpcStatus.NOT_FOUND:
      return 'not-found';
    case GrpcStatus.UNIMPLEMENTED:
      return 'unimplemented';
    case GrpcStatus.CANCELLED:
      return 'cancelled';
    default:
      return 'server-error';
  }
}

/** Kinds that mean "the server or the path to it is down or cut": worth a short wait. */
const NETWORK_KINDS = new Set<ErrorKind>(['connect', 'dropped-after-send', 'deadline', 'unavailable']);

export function kindOf(err: unknown): ErrorKind | undefined {
  return err instanceof MilvusError ? err.kind : undefined;
}

export function isRateLimited(err: unknown): boolean {
  const k = kindOf(err);
  return k === 'rate-limited' || k === 'quota';
}

/** The server or the network failed in a way that may clear by itself (a restart, a blip). */
export function isNetworkFailure(err: unknown): boolean {
  const k = kindOf(err);
  return k !== undefined && NETWORK_KINDS.has(k);
}

/** The collection is not loaded on that server (see ErrorKind). */
export function isNotLoaded(err: unknown): boolean {
  return kindOf(err) === 'not-loaded';
}

export function isTransient(err: unknown): boolean {
  return (
    isRateLimited(err) ||
    isNetworkFailure(err) ||
    // A restarted Milvus loads its collections again by itself within about as long as the restart.
    isNotLoaded(err) ||
    (err instanceof MilvusError && err.kind === 'server-error' && err.retriable)
  );
}

export function isTooLarge(err: unknown): boolean {
  return kindOf(err) === 'too-large';
}

/** The write may have landed although it failed (see MilvusErrorDetails.ambiguous). */
export function isAmbiguous(err: unknown): boolean {
  return err instanceof MilvusError && err.ambiguous;
}

// merr codes (Milvus 2.3+ `code`): 1 not ready, 2 unavailable, 3 memory limit, 4 request limit,
// 7 disk limit, 8 rate limit, 9 quota, 11 time tick delay, 13 too many requests; 100 collection,
// 200 partition, 700 index, 800 database not found; 1400-ish privileges.
const MERR_UNAVAILABLE = new Set([1, 2]);
const MERR_RATE_LIMITED = new Set([4, 8, 13]);
const MERR_QUOTA = new Set([3, 7, 9, 11]);
const MERR_NOT_FOUND = new Set([100, 200, 700, 800]);
/** merr ErrCollectionNotLoaded: Milvus 2.3+ and milvus-lite 3.2.2 alike. */
const MERR_NOT_LOADED = 101;
// Legacy common.ErrorCode values (milvus.proto common.proto).
const LEGACY = {
  PermissionDenied: 3,
  CollectionNotExists: 4,
  IndexNotExist: 25,
  ForceDeny: 48,
  RateLimit: 49,
  MemoryQuotaExhausted: 53,
  DiskQuotaExhausted: 54,
  TimeTickLongDelay: 55,
  NotReadyServe: 56,
} as const;
const LEGACY_RATE_LIMITED = new Set<number>([LEGACY.RateLimit]);
const LEGACY_QUOTA = new Set<number>([
  LEGACY.ForceDeny,
  LEGACY.MemoryQuotaExhausted,
  LEGACY.DiskQuotaExhausted,
  LEGACY.TimeTickLongDelay,
]);
const LEGACY_NOT_FOUND = new Set<number>([LEGACY.CollectionNotExists, LEGACY.IndexNotExist]);

/** The kind of a failed Milvus status: the server answered, so nothing about it is ambiguous. */
export function statusKind(code: number, legacy: number): ErrorKind {
  if (MERR_RATE_LIMITED.has(code) || LEGACY_RATE_LIMITED.has(legacy)) return 'rate-limited';
  if (MERR_QUOTA.has(code) || LEGACY_QUOTA.has(legacy)) return 'quota';
  if (MERR_UNAVAILABLE.has(code) || legacy === LEGACY.NotReadyServe) return 'unavailable';
  if (MERR_NOT_FOUND.has(code) || LEGACY_NOT_FOUND.has(legacy)) return 'not-found';
  if (code === MERR_NOT_LOADED) return 'not-loaded';
  // Legacy 3 is PermissionDenied; merr 3 is a memory limit (handled above by `code`).
  if (legacy === LEGACY.PermissionDenied && !code) return 'permission';
  return 'server-error';
}

/** Returns undefined when the status is a success. */
export function statusError(method: string, s: MilvusStatus | undefined): MilvusError | undefined {
  if (!s) return undefined;
  const legacy = s.error_code ?? 0;
  const code = s.code ?? 0;
  if (legacy === 0 && code === 0) return undefined;
  const reason = s.reason || `error code ${code || legacy}`;
  return new MilvusError(reason, method, statusKind(code, legacy), {
    ...(code ? { milvusCode: code } : {}),
    ...(legacy ? { legacyCode: legacy } : {}),
    retriable: Boolean(s.retriable),
  });
}

export function isPermissionDenied(err: unknown): boolean {
  return (
    err instanceof MilvusError &&
    (err.kind === 'permission' ||
      err.grpcCode === GrpcStatus.PERMISSION_DENIED ||
      // 2.3 reports a missing privilege as a plain failure whose reason says so.
      /permission ?denied/i.test(err.message))
  );
}
