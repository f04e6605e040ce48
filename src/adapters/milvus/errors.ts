import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorCode } from './proto.js';

export interface MilvusStatus {
  error_code?: number;
  reason?: string;
  code?: number;
  retriable?: boolean;
}

/** An error that a user can act on: `message` says what is wrong and what to do. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    /** A stable CamelCase reason, used for conditions and troubleshooting docs. */
    readonly reason: string = 'InvalidInput',
  ) {
    super(message);
  }
}

/** A failed Milvus call. `code` is the server's status code (or legacy error code), or the gRPC code. */
export class MilvusError extends Error {
  override name = 'MilvusError';
  constructor(
    message: string,
    readonly method: string,
    readonly code: number,
    readonly grpcCode?: number,
    readonly retriable = false,
  ) {
    super(message);
  }
}

// New-style status codes (merr) and legacy error codes that mean "slow down and try again".
const RATE_LIMIT_CODES = new Set([8, 9]);
const RATE_LIMIT_LEGACY = new Set([
  ErrorCode.RateLimit,
  ErrorCode.ForceDeny,
  ErrorCode.MemoryQuotaExhausted,
  ErrorCode.DiskQuotaExhausted,
  ErrorCode.TimeTickLongDelay,
]);

export function isRateLimited(err: unknown): boolean {
  if (!(err instanceof MilvusError)) return false;
  return (
    RATE_LIMIT_CODES.has(err.code) || RATE_LIMIT_LEGACY.has(err.code) || err.code === 53 || err.code === 54
  );
}

export function isTransient(err: unknown): boolean {
  if (!(err instanceof MilvusError)) return false;
  return (
    isRateLimited(err) ||
    err.grpcCode === GrpcStatus.UNAVAILABLE ||
    err.grpcCode === GrpcStatus.RESOURCE_EXHAUSTED ||
    err.grpcCode === GrpcStatus.DEADLINE_EXCEEDED
  );
}

/** Returns undefined when the status is a success. */
export function statusError(method: string, s: MilvusStatus | undefined): MilvusError | undefined {
  if (!s) return undefined;
  const legacy = s.error_code ?? 0;
  const code = s.code ?? 0;
  if (legacy === 0 && code === 0) return undefined;
  const reason = s.reason || `error code ${code || legacy}`;
  return new MilvusError(reason, method, code || legacy, undefined, Boolean(s.retriable));
}

export function isPermissionDenied(err: unknown): boolean {
  return (
    err instanceof MilvusError &&
    (err.grpcCode === GrpcStatus.PERMISSION_DENIED ||
      err.code === ErrorCode.PermissionDenied ||
      /permission ?denied/i.test(err.message))
  );
}
