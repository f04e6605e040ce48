/**
 * Unary gRPC calls over a hand-driven HTTP/2 connection, for the two calls that move a copy's bytes
 * (Query on the source, Insert on the target; see MilvusClient.queryRaw and insertEncoded). Every
 * other RPC stays on @grpc/grpc-js.
 *
 * Why: a 16 MB Query reply arrives as ~1,000 DATA frames of 16 KB (grpc-go never sends larger ones),
 * and the per-frame stream machinery of grpc-js (~60-80 ms CPU per reply) and of node:http2
 * (~40 ms) was most of the copy's client CPU. Here the socket is read into one large buffer, frames
 * are cut out of it in place and each DATA payload is copied straight into the reply's buffer: one
 * copy, no event per frame. Requests go out as frame headers plus views of the request buffer in one
 * writev. Header blocks are decoded by hpack.js (the full HPACK with dynamic table and Huffman).
 *
 * Semantics follow grpc-js where the copy depends on them: a deadline per call (grpc-timeout and a
 * local timer), grpc-status/grpc-message from trailers, UNAVAILABLE for every failure to connect or
 * lost connection (callers retry those), RESOURCE_EXHAUSTED over the message size limit, keepalive
 * pings that end a silent connection, a new connection after GOAWAY or loss, and an idle connection
 * that does not keep the process alive.
 */
import net from 'node:net';
import tls from 'node:tls';
import { status as Status } from '@grpc/grpc-js';
import hpack from 'hpack.js';
import { logger } from '../../util/logger.js';
import type { ErrorKind } from './errors.js';
import {
  ConnectionError,
  dataFrames,
  encodeHeaders,
  Flag,
  FrameReader,
  FrameType,
  frame,
  goAwayFrame,
  H2Error,
  PREFACE,
  partsLength,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from './h2-frames.js';

/**
 * A failed call, shaped like grpc-js' ServiceError (code, details) so both paths translate alike,
 * plus what only this transport knows for sure: the kind of failure and whether the request had
 * gone out whole when it happened (`ambiguous`: the server may have carried it out).
 */
export class CallError extends Error {
  override name = 'CallError';
  readonly kind: ErrorKind;
  constructor(
    readonly code: number,
    readonly details: string,
    kind?: ErrorKind,
    readonly ambiguous = false,
  ) {
    super(`${code} ${Status[code] ?? 'UNKNOWN'}: ${details}`);
    this.kind = kind ?? grpcKind(code);
  }
}

/** The kind of a gRPC status a server (or a proxy in front of it) sent. */
export function grpcKind(code: number): ErrorKind {
  switch (code) {
    case Status.UNAVAILABLE:
      return 'unavailable';
    case Status.DEADLINE_EXCEEDED:
      return 'deadline';
    // gRPC servers send RESOURCE_EXHAUSTED for a message over their size limit; Milvus reports
    // rate limits and quotas in its own status, never with this code.
    case Status.RESOURCE_EXHAUSTED:
      return 'too-large';
    case Status.UNAUTHENTICATED:
      return 'auth';
    case Status.PERMISSION_DENIED:
      return 'permission';
    case Status.NOT_FOUND:
      return 'not-found';
    case Status.UNIMPLEMENTED:
      return 'unimplemented';
    case Status.CANCELLED:
      return 'cancelled';
    default:
      return 'server-error';
  }
}

/** Failures after which a fully sent request may still have been carried out. */
const MAY_HAVE_RUN = new Set<ErrorKind>([
  'dropped-after-send',
  'deadline',
  'unavailable',
  'protocol',
  'server-error',
  'cancelled',
]);

export interface H2TransportOptions {
  host: string;
  port: number;
  /** :authority of every request (host:port). */
  authority: string;
  /** TLS as the grpc-js channel does it; absent for plaintext. */
  tls?: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    /** Name for SNI and certificate verification instead of the host. */
    serverName?: string;
    insecureSkipVerify?: boolean;
  };
  /** Metadata sent with every call (authorization, dbname). Never logged. */
  metadata: [string, string][];
  /** Largest message sent or accepted, in bytes. */
  maxMessage: number;
  /** Ping a connection that was silent this long (default 30 s)... */
  keepaliveMs?: number;
  /** ...and drop it when the ping is not answered in this time (default 20 s). */
  keepaliveTimeoutMs?: number;
  /** A connection not up in this time fails (default 20 s). */
  connectTimeoutMs?: number;
  /** Receive window per stream and for the connection (default 32 MB and 64 MB). */
  streamWindow?: number;
  connectionWindow?: number;
  /** Bytes read from the socket at a time (default 1 MB); 0 reads Node's default 64 KB chunks. */
  readBufferSize?: number;
  /** For logs: "source" or "target". */
  side: string;
}

const DEFAULT_WINDOW = 65_535;
/** Largest frame we accept: grpc-go sends 16 KB frames, but any peer may use what we allow. */
const MAX_FRAME_SIZE = 1 << 20;
const HEADER_TABLE_SIZE = 4096;
const MAX_STREAM_ID = 2 ** 31 - 1;
const SENSITIVE = new Set(['authorization']);

export class H2Transport {
  private conn: Connection | undefined;
  private closed = false;
  /** Headers every call sends, ahead of :path and grpc-timeout. */
  private readonly staticHeaders: [string, string][];

  constructor(readonly opts: H2TransportOptions) {
    this.staticHeaders = [
      [':method', 'POST'],
      [':scheme', opts.tls ? 'https' : 'http'],
      [':authority', opts.authority],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ...opts.metadata,
    ];
  }

  /**
   * One unary call: `message` is the encoded request, whole or as parts that are sent one after
   * the other without being joined; resolves to the encoded reply.
   */
  unary(path: string, message: Buffer | readonly Buffer[], timeoutMs: number): Promise<Buffer> {
    if (this.closed)
      return Promise.reject(new CallError(Status.UNAVAILABLE, 'Channel has been shut down', 'connect'));
    const parts = Buffer.isBuffer(message) ? [message] : message;
    const length = partsLength(parts);
    if (length > this.opts.maxMessage) {
      return Promise.reject(
        new CallError(
          Status.RESOURCE_EXHAUSTED,
          `Sent message larger than max (${length} vs. ${this.opts.maxMessage})`,
          'too-large',
        ),
      );
    }
    const block = encodeHeaders(
      [[':path', path], ...this.staticHeaders, ['grpc-timeout', grpcTimeout(timeoutMs)]],
      SENSITIVE,
    );
    return new Promise<Buffer>((resolve, reject) => {
      const call = new Call(block, parts, length, this.opts.maxMessage, resolve, reject);
      call.timer = setTimeout(
        () => call.fail(Status.DEADLINE_EXCEEDED, 'Deadline exceeded', 'deadline'),
        timeoutMs,
      );
      const conn = this.connection();
      conn.ready.then(
        () => conn.start(call),
        (err: CallError) => call.fail(err.code, err.details, err.kind),
      );
    });
  }

  /** Ends idle connections now and busy ones when their calls are done; later calls fail. */
  close(): void {
    this.closed = true;
    this.conn?.drain();
    this.conn = undefined;
  }

  private connection(): Connection {
    const c = this.conn;
    if (c && !c.closed && !c.goingAway) return c;
    const conn = new Connection(this.opts, () => {
      if (this.conn === conn) this.conn = undefined;
    });
    this.conn = conn;
    return conn;
  }
}

function grpcTimeout(ms: number): string {
  const t = Math.max(1, Math.ceil(ms));
  return t < 1e8 ? `${t}m` : `${Math.ceil(t / 1000)}S`;
}

/** One call's stream: the request still to send and the reply as it arrives. */
class Call {
  id = 0;
  done = false;
  timer: NodeJS.Timeout | undefined;
  conn: Connection | undefined;
  sendWindow = 0;
  /** Request bytes not yet sent: the 5-byte gRPC prefix and the message. */
  private readonly parts: Buffer[];
  private part = 0;
  private offset = 0;
  left: number;
  recvUnacked = 0;
  private headersSeen = false;
  private remoteEnded = false;
  private httpStatus = 0;
  private readonly prefix = Buffer.alloc(5);
  private prefixFill = 0;
  private msg: Buffer | undefined;
  private msgFill = 0;
  private reply: Buffer | undefined;

  constructor(
    readonly headerBlock: Buffer,
    message: readonly Buffer[],
    length: number,
    private readonly maxMessage: number,
    private readonly resolve: (b: Buffer) => void,
    private readonly reject: (e: CallError) => void,
  ) {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(length, 1);
    this.parts = [prefix, ...message];
    this.left = 5 + length;
  }

  /** The whole request went out: the server may act on it from now on. */
  get sentAll(): boolean {
    return this.id > 0 && this.left === 0;
  }

  /** The next `n` request bytes, as views. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.left -= n;
    while (n > 0) {
      const p = this.parts[this.part]!;
      const k = Math.min(n, p.length - this.offset);
      out.push(p.subarray(this.offset, this.offset + k));
      n -= k;
      this.offset += k;
      if (this.offset === p.length) {
        this.part++;
        this.offset = 0;
      }
    }
    if (this.left === 0) this.parts.length = 0; // let the request go as soon as it is written
    return out;
  }

  onData(bytes: Buffer): void {
    if (this.done) return;
    let pos = 0;
    while (pos < bytes.length) {
      if (this.msg === undefined) {
        const n = Math.min(5 - this.prefixFill, bytes.length - pos);
        bytes.copy(this.prefix, this.prefixFill, pos, pos + n);
        this.prefixFill += n;
        pos += n;
        if (this.prefixFill < 5) return;
        const len = this.prefix.readUInt32BE(1);
        if (this.prefix[0] !== 0) {
          this.fail(Status.INTERNAL, 'Received a compressed message, which this client did not ask for');
          return;
        }
        if (len > this.maxMessage) {
          this.fail(
            Status.RESOURCE_EXHAUSTED,
            `Received message larger than max (${len} vs. ${this.maxMessage})`,
          );
          return;
        }
        if (this.reply) {
          this.fail(Status.UNIMPLEMENTED, 'Too many responses received');
          return;
        }
        this.msg = Buffer.allocUnsafe(len);
        this.msgFill = 0;
      }
      const n = Math.min(this.msg.length - this.msgFill, bytes.length - pos);
      bytes.copy(this.msg, this.msgFill, pos, pos + n);
      this.msgFill += n;
      pos += n;
      if (this.msgFill === this.msg.length) {
        this.reply = this.msg;
        this.msg = undefined;
        this.prefixFill = 0;
      }
    }
  }

  onHeaders(fields: Map<string, string>, endStream: boolean): void {
    if (this.done) return;
    if (endStream) this.remoteEnded = true;
    if (!this.headersSeen) {
      this.headersSeen = true;
      this.httpStatus = Number(fields.get(':status') ?? 0);
      const type = fields.get('content-type') ?? '';
      if (this.httpStatus === 200 && !type.startsWith('application/grpc')) {
        this.fail(Status.UNKNOWN, `Received unexpected content-type '${type}'`, 'protocol');
        return;
      }
      if (!endStream) return;
    } else if (!endStream) {
      this.fail(Status.INTERNAL, 'Received a second header block that does not end the stream', 'protocol');
      return;
    }
    this.trailers(fields);
  }

  private trailers(fields: Map<string, string>): void {
    const raw = fields.get('grpc-status');
    if (raw === undefined) {
      if (this.httpStatus !== 200) {
        const code = httpToGrpc(this.httpStatus);
        // 502/503/504 come from a load balancer: its upstream may have carried the call out.
        this.fail(
          code,
          `Received HTTP status code ${this.httpStatus}`,
          code === Status.UNKNOWN ? 'protocol' : undefined,
        );
      } else {
        this.fail(Status.UNKNOWN, 'No status received', 'protocol');
      }
      return;
    }
    const code = Number(raw);
    if (code !== Status.OK) {
      this.fail(
        Number.isInteger(code) ? code : Status.UNKNOWN,
        decodeGrpcMessage(fields.get('grpc-message')),
      );
      return;
    }
    if (!this.reply || this.msg) {
      this.fail(Status.UNIMPLEMENTED, 'No message received', 'protocol');
      return;
    }
    this.finish();
    this.resolve(this.reply);
  }

  /** END_STREAM on a DATA frame: gRPC replies end with trailers, so this one is broken. */
  onEndWithoutTrailers(): void {
    this.remoteEnded = true;
    this.fail(Status.INTERNAL, 'Server ended the reply without trailers', 'protocol');
  }

  onReset(code: number): void {
    this.remoteEnded = true;
    switch (code) {
      case H2Error.REFUSED_STREAM:
        // HTTP/2 guarantees a refused stream was not processed: safe to send again as it is.
        this.fail(Status.UNAVAILABLE, 'Stream refused by server', 'unavailable', false);
        break;
      case H2Error.CANCEL:
        this.fail(Status.CANCELLED, 'Call cancelled by the server');
        break;
      case H2Error.ENHANCE_YOUR_CALM:
        this.fail(Status.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded', 'rate-limited');
        break;
      case H2Error.INADEQUATE_SECURITY:
        this.fail(Status.PERMISSION_DENIED, 'Protocol not secure enough');
        break;
      default:
        this.fail(Status.INTERNAL, `Received RST_STREAM with code ${code}`, 'protocol');
    }
  }

  /**
   * Ends the call with an error of `kind` (from the gRPC code when not given). It is ambiguous when
   * the request had gone out whole and the failure does not prove it was not carried out;
   * `mayHaveRun` false says it was not (a refused stream, a GOAWAY below its id).
   */
  fail(code: number, details: string, kind: ErrorKind = grpcKind(code), mayHaveRun = true): void {
    if (this.done) return;
    const ambiguous = mayHaveRun && this.sentAll && MAY_HAVE_RUN.has(kind);
    this.finish();
    this.reject(new CallError(code, details, kind, ambiguous));
  }

  private finish(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.msg = undefined;
    // A stream we have not ended (request not all sent) or the server has not: reset it.
    this.conn?.closeStream(this, !this.remoteEnded || this.left > 0);
  }
}

/** HTTP statuses of replies without grpc-status, mapped as gRPC specifies (and grpc-js does). */
function httpToGrpc(http: number): number {
  switch (http) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

function decodeGrpcMessage(v: string | undefined): string {
  if (!v) return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** One HTTP/2 connection and its streams. */
class Connection {
  closed = false;
  goingAway = false;
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (e: CallError) => void;
  private settingsReceived = false;
  private readonly socket: net.Socket;
  private readonly reader: FrameReader;
  private readonly hpack = hpack.decompressor.create({ table: { maxSize: HEADER_TABLE_SIZE } });
  private hpackError: Error | undefined;
  private readonly streams = new Map<number, Call>();
  /** Calls waiting for the peer's stream limit. */
  private readonly queued: Call[] = [];
  /** Calls with request bytes waiting for flow-control window. */
  private readonly blocked = new Set<Call>();
  private nextId = 1;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  private peerMaxStreams = Number.POSITIVE_INFINITY;
  private sendWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private readonly streamWindow: number;
  private readonly connectionWindow: number;
  private headerBlock: { streamId: number; flags: number; parts: Buffer[] } | undefined;
  private lastRead = Date.now();
  private keepalive: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private tcpConnected = false;
  private secured = false;
  private readonly log;

  constructor(
    private readonly opts: H2TransportOptions,
    private readonly onClosed: () => void,
  ) {
    this.log = logger.child({ component: 'h2-transport', side: opts.side, address: opts.authority });
    this.streamWindow = opts.streamWindow ?? 32 * 1024 * 1024;
    this.connectionWindow = opts.connectionWindow ?? 64 * 1024 * 1024;
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    // Every waiter fails through its own call; this keeps an unobserved rejection quiet.
    this.ready.catch(() => undefined);
    this.hpack.on('error', (err) => {
      this.hpackError = err;
    });
    this.reader = new FrameReader(
      {
        onFrame: (t, f, s, p) => this.onFrame(t, f, s, p),
        onDataStart: (s, f, l) => this.onDataStart(s, f, l),
        onData: (s, b) => this.streams.get(s)?.onData(b),
        onDataEnd: (s, f) => {
          if (f & Flag.END_STREAM) this.streams.get(s)?.onEndWithoutTrailers();
        },
      },
      MAX_FRAME_SIZE,
    );
    const readSize = opts.readBufferSize ?? 1024 * 1024;
    // The read buffer is reused for every read: the reader copies what it keeps before returning.
    const onread =
      readSize > 0
        ? {
            buffer: Buffer.allocUnsafe(readSize),
            callback: (n: number, buf: Uint8Array) => {
              this.onRead((buf as Buffer).subarray(0, n));
              return true;
            },
          }
        : undefined;
    const t = opts.tls;
    if (t) {
      const servername = t.serverName ?? (net.isIP(opts.host) ? undefined : opts.host);
      this.socket = tls.connect({
        host: opts.host,
        port: opts.port,
        ...(servername ? { servername } : {}),
        ...(t.ca ? { ca: t.ca } : {}),
        ...(t.cert ? { cert: t.cert } : {}),
        ...(t.key ? { key: t.key } : {}),
        ALPNProtocols: ['h2'],
        ...(t.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {}),
        ...(onread ? { onread } : {}),
      });
      this.socket.once('connect', () => {
        this.tcpConnected = true;
      });
      this.socket.once('secureConnect', () => {
        this.secured = true;
        this.handshake();
      });
    } else {
      this.socket = net.connect({ host: opts.host, port: opts.port, ...(onread ? { onread } : {}) });
      this.socket.once('connect', () => {
        this.tcpConnected = true;
        this.secured = true;
        this.handshake();
      });
    }
    if (!onread) this.socket.on('data', (b: Buffer) => this.onRead(b));
    this.socket.on('error', (err) => this.lost(err));
    this.socket.on('close', () => this.lost());
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(
      () => this.lost(new Error(`no HTTP/2 session within ${opts.connectTimeoutMs ?? 20_000} ms`)),
      opts.connectTimeoutMs ?? 20_000,
    );
    this.connectTimer.unref();
  }

  private handshake(): void {
    this.socket.setKeepAlive(true, this.opts.keepaliveMs ?? 30_000);
    this.socket.cork();
    this.socket.write(PREFACE);
    this.socket.write(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
        [Setting.MAX_FRAME_SIZE, MAX_FRAME_SIZE],
      ]),
    );
    this.socket.write(windowUpdateFrame(0, this.connectionWindow - DEFAULT_WINDOW));
    this.socket.uncork();
    this.keepalive = setInterval(() => this.ping(), this.opts.keepaliveMs ?? 30_000);
    this.keepalive.unref();
  }

  /** Starts a call's stream, or queues it while the peer's stream limit is reached. */
  start(call: Call): void {
    if (call.done) return;
    if (this.closed || this.goingAway) {
      call.fail(Status.UNAVAILABLE, 'Connection closed before the call started', 'connect');
      return;
    }
    if (this.streams.size >= this.peerMaxStreams) {
      this.queued.push(call);
      return;
    }
    if (this.nextId > MAX_STREAM_ID) {
      call.fail(Status.UNAVAILABLE, 'Connection ran out of stream ids', 'unavailable');
      this.drain();
      return;
    }
    call.id = this.nextId;
    this.nextId += 2;
    call.conn = this;
    call.sendWindow = this.peerInitialWindow;
    this.streams.set(call.id, call);
    if (this.streams.size === 1) this.socket.ref();
    const block = call.headerBlock;
    if (block.length > this.peerMaxFrame) {
      // Only a huge token could do this; CONTINUATION frames are not worth having for it.
      call.fail(
        Status.INTERNAL,
        `request headers of ${block.length} bytes exceed the server's frame size`,
        'too-large',
      );
      return;
    }
    this.socket.cork();
    this.socket.write(frame(FrameType.HEADERS, Flag.END_HEADERS, call.id, block));
    this.pump(call);
    this.socket.uncork();
  }

  /** Sends as much of a call's request as the flow-control windows allow. */
  private pump(call: Call): void {
    if (call.done || call.left === 0) {
      this.blocked.delete(call);
      return;
    }
    const n = Math.min(call.left, call.sendWindow, this.sendWindow);
    if (n <= 0) {
      this.blocked.add(call);
      return;
    }
    const end = n === call.left;
    const parts = dataFrames(call.id, call.take(n), this.peerMaxFrame, end);
    call.sendWindow -= n;
    this.sendWindow -= n;
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
    if (end) this.blocked.delete(call);
    else this.blocked.add(call);
  }

  private pumpBlocked(): void {
    for (const call of [...this.blocked]) {
      if (this.sendWindow <= 0) return;
      this.pump(call);
    }
  }

  /** A call ended: reset its stream if the server has not ended it, and let queued calls start. */
  closeStream(call: Call, reset: boolean): void {
    if (this.streams.get(call.id) !== call) return;
    this.streams.delete(call.id);
    this.blocked.delete(call);
    if (reset && !this.closed) this.socket.write(rstStreamFrame(call.id, H2Error.CANCEL));
    while (this.queued.length > 0 && this.streams.size < this.peerMaxStreams) {
      this.start(this.queued.shift()!);
    }
    if (this.streams.size === 0) {
      if (this.goingAway) this.shutdown();
      else if (!this.closed) this.socket.unref();
    }
  }

  /** No new calls; the connection ends when its last call does. */
  drain(): void {
    if (this.goingAway) return;
    this.goingAway = true;
    this.onClosed();
    if (this.streams.size === 0 && this.queued.length === 0) this.shutdown();
  }

  private shutdown(): void {
    if (this.closed) return;
    if (this.settingsReceived) {
      this.lost(undefined, false);
      // Closed once the GOAWAY is out (or could not go out), not when the server closes its side:
      // servers may keep a half-closed socket open.
      this.socket.write(goAwayFrame(0, H2Error.NO_ERROR), () => this.socket.destroy());
    } else {
      this.lost();
    }
  }

  private onRead(chunk: Buffer): void {
    this.lastRead = Date.now();
    try {
      this.reader.push(chunk);
    } catch (err) {
      const e = err as Error;
      const code = err instanceof ConnectionError ? err.h2Code : H2Error.INTERNAL_ERROR;
      if (!this.closed && this.settingsReceived) this.socket.write(goAwayFrame(0, code));
      this.lost(new ProtocolError(e.message));
      this.socket.destroy();
    }
  }

  private onDataStart(streamId: number, flags: number, length: number): void {
    // Flow control counts every DATA byte when it arrives: the reply's bytes are copied out at once,
    // so nothing is held back and the windows can be reopened right away.
    this.recvUnacked += length;
    if (this.recvUnacked >= this.connectionWindow / 2) {
      this.socket.write(windowUpdateFrame(0, this.recvUnacked));
      this.recvUnacked = 0;
    }
    const call = this.streams.get(streamId);
    if (!call || flags & Flag.END_STREAM) return;
    call.recvUnacked += length;
    if (call.recvUnacked >= this.streamWindow / 2) {
      this.socket.write(windowUpdateFrame(streamId, call.recvUnacked));
      call.recvUnacked = 0;
    }
  }

  private onFrame(type: number, flags: number, streamId: number, p: Buffer): void {
    if (!this.settingsReceived && type !== FrameType.SETTINGS) {
      throw new ConnectionError(`the server's first frame was of type ${type}, not SETTINGS`);
    }
    if (this.headerBlock && type !== FrameType.CONTINUATION) {
      throw new ConnectionError('header block interrupted by another frame');
    }
    switch (type) {
      case FrameType.HEADERS: {
        let start = 0;
        let end = p.length;
        if (flags & Flag.PADDED) {
          start = 1;
          end -= p[0] ?? 0;
        }
        if (flags & Flag.PRIORITY) start += 5;
        if (start > end) throw new ConnectionError('HEADERS frame padding exceeds its length');
        const fragment = p.subarray(start, end);
        if (flags & Flag.END_HEADERS) this.headers(streamId, flags, fragment);
        else this.headerBlock = { streamId, flags, parts: [Buffer.from(fragment)] };
        break;
      }
      case FrameType.CONTINUATION: {
        const hb = this.headerBlock;
        if (!hb || hb.streamId !== streamId) throw new ConnectionError('unexpected CONTINUATION frame');
        hb.parts.push(Buffer.from(p));
        if (flags & Flag.END_HEADERS) {
          this.headerBlock = undefined;
          this.headers(streamId, hb.flags, Buffer.concat(hb.parts));
        }
        break;
      }
      case FrameType.RST_STREAM:
        if (p.length !== 4) throw new ConnectionError('RST_STREAM of wrong length', H2Error.FRAME_SIZE_ERROR);
        this.streams.get(streamId)?.onReset(p.readUInt32BE(0));
        break;
      case FrameType.SETTINGS:
        this.settings(flags, p);
        break;
      case FrameType.PING:
        if (p.length !== 8) throw new ConnectionError('PING of wrong length', H2Error.FRAME_SIZE_ERROR);
        if (flags & Flag.ACK) {
          clearTimeout(this.pingTimer);
          this.pingTimer = undefined;
        } else {
          this.socket.write(frame(FrameType.PING, Flag.ACK, 0, p));
        }
        break;
      case FrameType.GOAWAY:
        this.goAway(p);
        break;
      case FrameType.WINDOW_UPDATE: {
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) {
          this.sendWindow += inc;
        } else {
          const call = this.streams.get(streamId);
          if (!call) break;
          call.sendWindow += inc;
        }
        this.pumpBlocked();
        break;
      }
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError('PUSH_PROMISE although push is disabled');
      default:
      // PRIORITY and unknown frame types are ignored, as HTTP/2 requires.
    }
  }

  private headers(streamId: number, flags: number, block: Buffer): void {
    // Every block is decoded, also one for a stream already given up: the dynamic table is shared.
    this.hpack.write(block);
    this.hpack.execute();
    const fields = new Map<string, string>();
    for (let f = this.hpack.read(); f; f = this.hpack.read()) fields.set(f.name, f.value);
    if (this.hpackError) {
      throw new ConnectionError(`bad header block: ${this.hpackError.message}`, H2Error.COMPRESSION_ERROR);
    }
    this.streams.get(streamId)?.onHeaders(fields, (flags & Flag.END_STREAM) !== 0);
  }

  private settings(flags: number, p: Buffer): void {
    if (flags & Flag.ACK) return;
    if (p.length % 6 !== 0) throw new ConnectionError('SETTINGS of wrong length', H2Error.FRAME_SIZE_ERROR);
    for (let i = 0; i < p.length; i += 6) {
      const id = p.readUInt16BE(i);
      const value = p.readUInt32BE(i + 2);
      switch (id) {
        case Setting.INITIAL_WINDOW_SIZE: {
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const call of this.streams.values()) call.sendWindow += delta;
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          this.peerMaxFrame = value;
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxStreams = value;
          break;
        default:
        // The header table size only limits an encoder's dynamic table, and ours uses none.
      }
    }
    this.socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (!this.settingsReceived) {
      this.settingsReceived = true;
      clearTimeout(this.connectTimer);
      if (this.streams.size === 0) this.socket.unref();
      this.log.debug('HTTP/2 connection up');
      this.resolveReady();
    }
    this.pumpBlocked();
  }

  private goAway(p: Buffer): void {
    const last = p.readUInt32BE(0) & 0x7fffffff;
    const code = p.readUInt32BE(4);
    const debug = p.subarray(8).toString('latin1');
    this.log.debug({ code, lastStreamId: last, debug }, 'server sent GOAWAY');
    if (code === H2Error.ENHANCE_YOUR_CALM && debug === 'too_many_pings') {
      this.log.warn('the server closed the connection for too many keepalive pings');
    }
    for (const call of [...this.streams.values()]) {
      // Streams above `last` were not processed: safe to send again, so UNAVAILABLE.
      if (call.id > last)
        call.fail(Status.UNAVAILABLE, `Server went away (GOAWAY code ${code})`, 'unavailable', false);
    }
    this.drain();
  }

  private ping(): void {
    if (this.closed || this.pingTimer || Date.now() - this.lastRead < (this.opts.keepaliveMs ?? 30_000)) {
      return;
    }
    this.socket.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    const timeout = this.opts.keepaliveTimeoutMs ?? 20_000;
    this.pingTimer = setTimeout(() => {
      this.log.warn({ timeoutMs: timeout }, 'keepalive ping not answered: dropping the connection');
      this.lost(new Error(`keepalive ping not answered in ${timeout} ms`));
      this.socket.destroy();
    }, timeout);
    this.pingTimer.unref();
  }

  /** The connection is gone: every call on it fails UNAVAILABLE (INTERNAL for protocol errors). */
  private lost(err?: Error, destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    clearTimeout(this.pingTimer);
    clearTimeout(this.connectTimer);
    this.onClosed();
    let code: number = Status.UNAVAILABLE;
    let details: string;
    let kind: ErrorKind = 'dropped-after-send';
    if (!this.tcpConnected) {
      kind = 'connect';
      // A reset while connecting is a server going down, not a server speaking something else.
      details =
        (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET'
          ? `connection reset by ${this.opts.authority} while connecting`
          : (err?.message ?? 'connection closed');
    } else if (!this.secured) {
      kind = 'tls';
      details = `TLS handshake failed: ${err?.message ?? 'connection closed'}`;
    } else if (!this.settingsReceived) {
      // TLS 1.3 finishes the client's handshake before the server checks its certificate: a
      // refused client certificate arrives as an alert after "secureConnect".
      kind = /^ERR_(SSL|TLS)_/.test((err as NodeJS.ErrnoException | undefined)?.code ?? '')
        ? 'tls'
        : 'connect';
      // "Failed to connect" is what MilvusClient.translate reads as "connected, but no gRPC": the
      // rest must not say TLS or handshake, or a plain endpoint on a TLS server reads as a TLS error.
      details = `Failed to connect: ${err?.message ?? 'the server closed the connection without starting HTTP/2'}`;
    } else if (err instanceof ProtocolError) {
      kind = 'protocol';
      code = Status.INTERNAL;
      details = `HTTP/2 protocol error from the server: ${err.message}`;
    } else {
      // Not the raw ECONNRESET: MilvusClient reads that word as "not a gRPC server" (see translate).
      const reason =
        (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET'
          ? 'reset by the server'
          : err?.message;
      details = reason ? `Connection dropped (${reason})` : 'Connection dropped';
    }
    if (this.streams.size > 0 || !this.settingsReceived) {
      this.log.debug({ calls: this.streams.size, reason: details }, 'HTTP/2 connection lost');
    }
    this.rejectReady(new CallError(code, details, kind));
    // A call that had sent nothing yet failed to connect as far as it is concerned.
    for (const call of [...this.streams.values(), ...this.queued])
      call.fail(code, details, call.id > 0 ? kind : kind === 'dropped-after-send' ? 'connect' : kind);
    this.streams.clear();
    this.queued.length = 0;
    this.blocked.clear();
    if (destroy) this.socket.destroy();
  }
}

class ProtocolError extends Error {}
