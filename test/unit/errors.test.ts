import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { grpcJsKind } from '../../src/adapters/milvus/client.js';
import {
  grpcKind,
  isAmbiguous,
  isRateLimited,
  isTransient,
  MilvusError,
  statusError,
  statusKind,
} from '../../src/adapters/milvus/errors.js';
import { InsertLedger } from '../../src/engine/row-mover.js';

describe('error kinds', () => {
  it('keeps Milvus codes and gRPC codes apart: RESOURCE_EXHAUSTED is too-large, Milvus 8 is a rate limit', () => {
    expect(grpcKind(status.RESOURCE_EXHAUSTED)).toBe('too-large');
    expect(grpcKind(status.FAILED_PRECONDITION)).toBe('server-error');
    const rate = statusError('Insert', { code: 8, reason: 'rate limit exceeded' })!;
    expect(rate.kind).toBe('rate-limited');
    expect(rate.milvusCode).toBe(8);
    expect(rate.grpcCode).toBeUndefined();
    expect(isRateLimited(rate)).toBe(true);
    expect(statusKind(9, 0)).toBe('quota');
    expect(statusKind(0, 49)).toBe('rate-limited');
    expect(statusKind(0, 53)).toBe('quota');
    // Legacy 3 is PermissionDenied, merr 3 a memory limit.
    expect(statusKind(0, 3)).toBe('permission');
    expect(statusKind(3, 0)).toBe('quota');
    expect(statusKind(100, 4)).toBe('not-found');
    expect(statusKind(1100, 0)).toBe('server-error');
  });

  it('tells a connection that never came up from one lost after the call went out (grpc-js)', () => {
    expect(grpcJsKind(status.UNAVAILABLE, 'connect ECONNREFUSED 127.0.0.1:1')).toEqual({
      kind: 'connect',
      ambiguous: false,
    });
    expect(grpcJsKind(status.UNAVAILABLE, 'Connection dropped')).toEqual({
      kind: 'dropped-after-send',
      ambiguous: true,
    });
    expect(grpcJsKind(status.DEADLINE_EXCEEDED, 'Deadline exceeded')).toEqual({
      kind: 'deadline',
      ambiguous: true,
    });
    expect(grpcJsKind(status.RESOURCE_EXHAUSTED, 'Received message larger than max')).toEqual({
      kind: 'too-large',
      ambiguous: false,
    });
    // A server shutting down cancels the calls in flight; only a cancel of our own is 'cancelled'.
    expect(grpcJsKind(status.CANCELLED, 'CANCELLED')).toEqual({
      kind: 'dropped-after-send',
      ambiguous: true,
    });
    expect(grpcJsKind(status.CANCELLED, 'Call cancelled')).toEqual({
      kind: 'dropped-after-send',
      ambiguous: true,
    });
    expect(grpcJsKind(status.CANCELLED, 'Cancelled on client')).toEqual({
      kind: 'cancelled',
      ambiguous: true,
    });
    // RST_STREAM / GOAWAY ENHANCE_YOUR_CALM (a C-core server's too_many_pings): the connection was
    // cut under the call (seen from milvus-lite in CI).
    expect(grpcJsKind(status.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded')).toEqual({
      kind: 'dropped-after-send',
      ambiguous: true,
    });
  });

  it('retries by kind: network and quota failures, never too-large, auth or plain server errors', () => {
    const e = (kind: ConstructorParameters<typeof MilvusError>[2], ambiguous = false) =>
      new MilvusError('x', 'Insert', kind, { ambiguous });
    expect(isTransient(e('dropped-after-send', true))).toBe(true);
    expect(isAmbiguous(e('dropped-after-send', true))).toBe(true);
    expect(isTransient(e('connect'))).toBe(true);
    expect(isTransient(e('quota'))).toBe(true);
    expect(isTransient(e('too-large'))).toBe(false);
    expect(isTransient(e('auth'))).toBe(false);
    expect(isTransient(e('server-error'))).toBe(false);
    expect(isTransient(new MilvusError('x', 'Insert', 'server-error', { retriable: true }))).toBe(true);
  });
});

describe('InsertLedger (regenerated keys: landing told by count(*))', () => {
  const lost = () => new MilvusError('connection lost', 'Insert', 'dropped-after-send', { ambiguous: true });

  it('knows whether an insert that failed after it was sent landed', async () => {
    let count = 100;
    const ledger = new InsertLedger(async () => count, 't', undefined, 0);
    expect(
      await ledger.insert(async () => {
        count += 10;
      }, 10),
    ).toBe(false);
    // The reply was lost but the rows landed: nothing to send again.
    expect(
      await ledger.insert(async () => {
        count += 5;
        throw lost();
      }, 5),
    ).toBe(true);
    // Lost before it reached the server: the error comes back, to be sent again.
    await expect(
      ledger.insert(async () => {
        throw lost();
      }, 7),
    ).rejects.toThrow('connection lost');
    // A plain refusal is not looked into.
    await expect(
      ledger.insert(async () => {
        throw new MilvusError('bad', 'Insert', 'server-error');
      }, 7),
    ).rejects.toThrow('bad');
    // Someone else wrote meanwhile: no guessing.
    await expect(
      ledger.insert(async () => {
        count += 3;
        throw lost();
      }, 7),
    ).rejects.toThrow(/cannot tell whether an insert of 7 rows/);
  });

  // CI: two pages of 128 rows in flight, both replies lost, only the second landed. Decided after
  // both had run, the count's +128 was given to the first: the second written twice, the first lost.
  it('decides in the insert’s own turn: two equal inserts in flight, both failed, only the second landed', async () => {
    let count = 0;
    const ledger = new InsertLedger(async () => count, 't', 0, 0);
    const first = ledger.insert(async () => {
      throw lost();
    }, 128);
    const second = ledger.insert(async () => {
      count += 128;
      throw lost();
    }, 128);
    await expect(first).rejects.toThrow('connection lost');
    expect(await second).toBe(true);
    // The first is sent again and lands: every row once.
    expect(
      await ledger.insert(async () => {
        count += 128;
      }, 128),
    ).toBe(false);
    expect(count).toBe(256);
  });

  it('gives a count that did not move a moment to move: a late landing is not written twice', async () => {
    let count = 50;
    const ledger = new InsertLedger(async () => count, 't', 50, 20);
    const landed = ledger.insert(async () => {
      setTimeout(() => {
        count += 4;
      }, 5);
      throw lost();
    }, 4);
    expect(await landed).toBe(true);
  });
});
