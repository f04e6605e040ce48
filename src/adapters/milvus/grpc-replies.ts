/**
 * Receiving large replies into reused memory.
 *
 * grpc-js gathers a reply's HTTP/2 chunks and joins them with Buffer.concat into a fresh buffer of
 * the message's size. For the copy's 16 MB query pages that fresh memory is the cost, not the copy:
 * its page faults made the join four times slower than the same copy into memory used before
 * (410 ms against about 100 ms per 623 MB in a CPU profile), and each page's external allocation
 * pushes V8 towards a full collection (docs/performance.md).
 *
 * The client's stream decoder is wrapped: a message of at least POOLED_MIN bytes whose 5-byte frame
 * header starts a chunk is copied, as its chunks arrive, into a buffer from a pool, and handed on
 * framed exactly as grpc-js would hand it on. Everything else (small messages, a header split
 * across chunks, compressed messages) goes through grpc-js's own decoder.
 *
 * Memory goes back to the pool only through `releaserOf`, called by whoever knows that nothing
 * refers to the reply any more (the copy, once its page is written: see RawQueryReply.release). A
 * reply never released is freed by the garbage collector like any other buffer.
 */
import { BufferPool } from './buffer-pool.js';
import { FRAME_HEADER, framedLength } from './grpc-frame.js';
import { grpcJsModule } from './grpc-internals.js';

/**
 * Replies smaller than this are left to grpc-js: fresh memory of that size is cheap.
 * MILVUS_MIGRATE_POOLED_REPLY_MIN lowers it for tests, so that generated collections, whose pages
 * are small, go through the pool too.
 */
export const POOLED_MIN = Number(process.env.MILVUS_MIGRATE_POOLED_REPLY_MIN) || 1 << 20;
/** Replies larger than this are left to grpc-js too, and the pool keeps nothing larger. */
const POOLED_MAX = 64 * 1024 * 1024;
/** grpc-js's ReadState.NO_DATA: its decoder is between messages. */
const NO_DATA = 0;

const pool = new BufferPool(4, framedLength(POOLED_MAX));
/**
 * Pool buffers now holding a reply, by their memory, each with the lending it belongs to (a fresh
 * object per reply): a release made for an earlier reply in the same memory finds another lending.
 */
const lent = new WeakMap<ArrayBufferLike, { buf: Buffer }>();
const TAKEN = Symbol('milvus-migrate pooled message');

interface DecoderShape {
  readState: number;
  maxReadMessageLength: number;
  [TAKEN]?: { buf: Buffer; at: number; end: number };
  write(data: Buffer): Buffer[];
}

function wrapDecoder(): boolean {
  const ctor = grpcJsModule<{ StreamDecoder: new (max: number) => DecoderShape }>(
    'stream-decoder',
  )?.StreamDecoder;
  if (typeof ctor !== 'function') return false;
  // The shape this relies on: a decoder starts between messages and knows its size limit.
  const probe = new ctor(-1);
  if (probe.readState !== NO_DATA || probe.maxReadMessageLength !== -1 || typeof probe.write !== 'function')
    return false;
  const original = ctor.prototype.write as (this: DecoderShape, data: Buffer) => Buffer[];
  ctor.prototype.write = function (this: DecoderShape, data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let rest = data;
    while (rest.length > 0) {
      const taken = this[TAKEN];
      if (taken) {
        const n = Math.min(rest.length, taken.end - taken.at);
        rest.copy(taken.buf, taken.at, 0, n);
        taken.at += n;
        rest = rest.subarray(n);
        if (taken.at === taken.end) {
          out.push(taken.buf.subarray(0, taken.end));
          this[TAKEN] = undefined;
        }
        continue;
      }
      if (this.readState === NO_DATA && rest.length >= FRAME_HEADER && rest[0] === 0) {
        const size = rest.readUInt32BE(1);
        const max = this.maxReadMessageLength;
        // Up to POOLED_MAX: the buffer is taken when the header arrives, and an unusually large
        // reply cut off early would hold that much memory until it is collected.
        if (size >= POOLED_MIN && size <= POOLED_MAX && (max === -1 || size <= max)) {
          const buf = pool.take(framedLength(size));
          lent.set(buf.buffer, { buf });
          this[TAKEN] = { buf, at: 0, end: framedLength(size) };
          continue;
        }
      }
      // grpc-js's own decoder takes all the rest (and, until its message ends, the next chunks).
      for (const m of original.call(this, rest)) out.push(m);
      break;
    }
    return out;
  };
  return true;
}

/** Whether large replies are received into pooled memory (false: grpc-js's own buffers). */
export const pooledReplies = wrapDecoder();

/**
 * The release of one reply (any view of it): gives its memory back to the pool, if it came from
 * there. Whoever calls it promises that nothing refers to that memory any more. It works once: a
 * second call, also after the memory was lent to a later reply, does nothing.
 */
export function releaserOf(view: Buffer): () => void {
  const lending = lent.get(view.buffer);
  return () => {
    if (!lending || lent.get(view.buffer) !== lending) return;
    lent.delete(view.buffer);
    pool.give(lending.buf);
  };
}
