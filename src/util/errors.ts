/**
 * The errors every layer shares: what a user can act on (UserError), a failed verification
 * (VerificationError), and how any error reads in a status (errorText, reasonOf).
 */
import { MilvusError } from '../adapters/milvus/errors.js';
import type { Reason } from '../api/reasons.js';

/** An error that a user can act on: `message` says what is wrong and what to do. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    /** A stable CamelCase reason, used for conditions and troubleshooting docs. */
    readonly reason: Reason = 'InvalidInput',
  ) {
    super(message);
  }
}

/**
 * The target does not match the source after the copy (counts or content): the run fails with
 * reason VerificationFailed rather than CopyFailed.
 */
export class VerificationError extends Error {
  override name = 'VerificationError';
}

/**
 * After a copy, the target holds fewer rows than the source accounts for (and no more in any
 * partition): rows the target lost or never kept. Writing the missing keys may complete it.
 */
export class CountShortfallError extends VerificationError {
  override name = 'CountShortfallError';
  constructor(
    /** What the counts were, without advice. */
    readonly counts: string,
    advice: string,
    /** Rows the target lacks, by count(*). */
    readonly missing: number,
  ) {
    super(`${counts}: ${advice}`);
  }
}

/** A stable CamelCase reason for an error, for conditions and the troubleshooting docs. */
export function reasonOf(err: unknown): Reason {
  if (err instanceof UserError) return err.reason;
  if (err instanceof MilvusError) {
    if (err.kind === 'auth') return 'AuthenticationFailed';
    if (err.kind === 'permission' && err.grpcCode !== undefined) return 'PermissionDenied';
    if (err.kind === 'connect' || err.kind === 'tls' || err.kind === 'unavailable') return 'Unreachable';
    return 'MilvusError';
  }
  return 'InternalError';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
