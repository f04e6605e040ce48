/**
 * Sending a large message without grpc-js copying it once more.
 *
 * grpc-js frames every message it sends (1 byte "compressed", 4 bytes length, then the message) by
 * allocating a new buffer five bytes longer and copying the message into it. For the copy's
 * inserts that is a fresh 16 MB allocation and a 16 MB copy per page, after we have already joined
 * the page's parts into one buffer: in a CPU profile of a 200,000 × 768 copy (623 MB) it was the
 * largest single cost of the client, 0.4 s of its 2.8 s on the main thread, and the external
 * allocations drove V8 to a full collection about every second page (docs/performance.md).
 *
 * A message made by `withFrameRoom` has those five bytes in front of it, in the same memory. The
 * send step of grpc-js's compression filter (the one place that frames) is wrapped: for such a
 * message on an uncompressed call it writes the header into the room and hands on the bytes in
 * place; every other message, and every compressed call, goes through grpc-js's own code
 * unchanged. If a grpc-js version does not have the shape this relies on, nothing is wrapped and
 * grpc-js copies as before (`frameInPlace` says which; a unit test pins it for the locked version).
 */
import { grpcJsModule } from './grpc-internals.js';

/** The gRPC frame header before every message: 1 byte "compressed", 4 bytes length. */
export const FRAME_HEADER = 5;
const roomy = new WeakSet<Buffer>();

interface WriteObject {
  message: Buffer;
  flags?: number;
}
interface FilterShape {
  currentCompressionAlgorithm?: string;
  maxSendMessageLength?: number;
}
type SendMessage = (this: FilterShape, message: Promise<WriteObject>) => Promise<WriteObject>;

function wrapSend(): boolean {
  const proto = grpcJsModule<{ CompressionFilter: { prototype: { sendMessage?: SendMessage } } }>(
    'compression-filter',
  )?.CompressionFilter?.prototype;
  const original = proto?.sendMessage;
  if (!proto || typeof original !== 'function') return false;
  proto.sendMessage = async function (this: FilterShape, message: Promise<WriteObject>) {
    const m = await message;
    const max = this.maxSendMessageLength;
    if (
      roomy.has(m.message) &&
      this.currentCompressionAlgorithm === 'identity' &&
      typeof max === 'number' &&
      (max === -1 || m.message.length <= max)
    ) {
      const b = m.message;
      const framed = Buffer.from(b.buffer, b.byteOffset - FRAME_HEADER, b.length + FRAME_HEADER);
      framed.writeUInt8(0, 0);
      framed.writeUInt32BE(b.length, 1);
      return { message: framed, flags: m.flags };
    }
    return original.call(this, Promise.resolve(m));
  };
  return true;
}

/** Whether grpc-js sends `withFrameRoom` messages in place (false: it copies them, as any other). */
export const frameInPlace = wrapSend();

/**
 * `length` bytes to fill with a message, with room for the gRPC frame header in front, inside
 * `scratch` (which must be at least `length + 5` bytes long). The returned view is the message.
 */
export function withFrameRoom(scratch: Buffer, length: number): Buffer {
  if (scratch.length < length + FRAME_HEADER) throw new RangeError('scratch buffer too small for the frame');
  const message = scratch.subarray(FRAME_HEADER, FRAME_HEADER + length);
  roomy.add(message);
  return message;
}

/** Bytes a scratch buffer needs for a message of `length` bytes with its frame header. */
export function framedLength(length: number): number {
  return length + FRAME_HEADER;
}
