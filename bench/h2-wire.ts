// A minimal HTTP/2 client connection for load generation (RFC 9113): one TCP socket, frames written and read
// by hand, unary exchanges only (HEADERS + DATA out; HEADERS, DATA, trailing HEADERS in).
//
// Why not node:http2: every Http2Stream is a native handle whose JS objects stay reachable from V8's weak
// handles until a full collection, so each call's stream graph survives scavenges and is promoted. Measured
// with the gRPC floor at ~10,000 calls/s (2 cores): the node:http2 generator spent ~400 ms of every 7 s in
// scavenges of 10–20 ms (12 MB survivors each), parallel scavenges that take both cores from the server
// being measured. This connection allocates a request buffer and a few small objects per call.
//
// What it does not do: decode HPACK. Requests index their fields in the server's table once per connection
// (headerBlocks), as gRPC clients do; responses are classified by frame shape, which is what a gRPC unary answer is
// — an OK call carries a message in DATA and ends with a trailing HEADERS, a failed one is a lone HEADERS
// with END_STREAM ("Trailers-Only", PROTOCOL-HTTP2.md). The caller decodes the message to verify it and
// asks a decoding client (node:http2) for the status of a failed call when it wants to explain it.

import { type Socket, connect as tcpConnect } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// CONTINUATION frames are ignored: only a HEADERS frame carries END_STREAM, and header blocks are not decoded.
const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 };
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8 };
const SETTING = { ENABLE_PUSH: 0x2, INITIAL_WINDOW_SIZE: 0x4 };
const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65_535;

function frameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out.writeUIntBE(length, at, 3);
  out.writeUInt8(type, at + 3);
  out.writeUInt8(flags, at + 4);
  out.writeUInt32BE(stream, at + 5);
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  frameHeader(out, 0, payload.length, type, flags, stream);
  payload.copy(out, 9);
  return out;
}

/** HPACK integer (RFC 7541 §5.1) with an N-bit prefix under `first`'s high bits. */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** The header blocks of one request shape: the first on a connection, and every later one. */
export interface HeaderBlocks {
  first: Buffer;
  repeat: Buffer;
}

/** The decoder's dynamic table size until it says otherwise (RFC 9113 §6.5.2, SETTINGS_HEADER_TABLE_SIZE). */
const DEFAULT_TABLE_SIZE = 4096;
/** Dynamic table indices start after the 61 static entries (RFC 7541 §2.3.3). */
const FIRST_DYNAMIC_INDEX = 62;

/**
 * HPACK header blocks (RFC 7541, no Huffman coding) as gRPC clients send them: the first request on a
 * connection adds every field to the server's dynamic table (literal with incremental indexing, §6.2.1),
 * later requests name them by index (§6.1) — a bearer token of ~700 bytes then costs the server two bytes
 * per call instead of a parse. When the fields do not fit the default table, every request carries them
 * as literals without indexing (§6.2.2).
 */
export function headerBlocks(headers: [string, string][]): HeaderBlocks {
  const fields = headers.map(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')] as const);
  const literal = (prefixByte: number, prefixBits: number) =>
    Buffer.from(
      fields.flatMap(([n, v]) => [
        ...hpackInt(0, prefixBits, prefixByte),
        ...hpackInt(n.length, 7, 0x00),
        ...n,
        ...hpackInt(v.length, 7, 0x00),
        ...v,
      ]),
    );
  const tableBytes = fields.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
  if (tableBytes > DEFAULT_TABLE_SIZE) {
    const block = literal(0x00, 4);
    return { first: block, repeat: block };
  }
  // The field added last has the lowest dynamic index.
  const repeat = Buffer.from(fields.flatMap((_, i) => hpackInt(FIRST_DYNAMIC_INDEX + fields.length - 1 - i, 7, 0x80)));
  return { first: literal(0x40, 6), repeat };
}

export interface Exchange {
  /** The response carried DATA and ended with trailing HEADERS (not Trailers-Only, not reset). */
  ok: boolean;
  /** The DATA payload (for gRPC: the length-prefixed message). */
  body: Buffer;
  /** Why the exchange failed at the HTTP/2 level (reset, GOAWAY, closed connection, Trailers-Only). */
  failure?: string;
}

interface Pending {
  chunks: Buffer[];
  sawHeaders: boolean;
  sawData: boolean;
  done(x: Exchange): void;
}

export class H2WireConnection {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private nextStream = 1;
  private inbox: Buffer = Buffer.alloc(0);
  private sendWindow = DEFAULT_WINDOW;
  private peerStreamWindow = DEFAULT_WINDOW;
  private received = 0;
  private broken: string | undefined;
  private readonly blocked: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => this.fail('connection closed'));
  }

  /** Opens a connection and sends the preface, our settings and a connection window as large as allowed. */
  static open(host: string, port: number): Promise<H2WireConnection> {
    return new Promise((ok, fail) => {
      const socket = tcpConnect({ host, port, noDelay: true });
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        const settings = Buffer.alloc(12);
        settings.writeUInt16BE(SETTING.ENABLE_PUSH, 0);
        settings.writeUInt32BE(0, 2);
        settings.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
        settings.writeUInt32BE(MAX_WINDOW, 8);
        const increment = Buffer.alloc(4);
        increment.writeUInt32BE(MAX_WINDOW - DEFAULT_WINDOW, 0);
        socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, settings), frame(FRAME.WINDOW_UPDATE, 0, 0, increment)]));
        ok(new H2WireConnection(socket));
      });
    });
  }

  /**
   * One exchange: the header block (see headerBlocks; the first exchange on a connection must complete
   * its HEADERS before another starts, which one call in flight per connection guarantees) in one HEADERS frame, `body` in one DATA frame
   * ending the stream. Resolves when the response stream ends, fails or the connection goes.
   */
  async request(headers: HeaderBlocks, body: Buffer): Promise<Exchange> {
    if (body.length > this.peerStreamWindow) throw new Error(`request body of ${body.length} bytes exceeds the peer's stream window`);
    while (this.sendWindow < body.length && !this.broken) await new Promise<void>((wake) => this.blocked.push(wake));
    if (this.broken) return { ok: false, body: Buffer.alloc(0), failure: this.broken };
    const stream = this.nextStream;
    this.nextStream += 2;
    const headerBlock = stream === 1 ? headers.first : headers.repeat;
    this.sendWindow -= body.length;
    const out = Buffer.allocUnsafe(18 + headerBlock.length + body.length);
    frameHeader(out, 0, headerBlock.length, FRAME.HEADERS, FLAG.END_HEADERS, stream);
    headerBlock.copy(out, 9);
    frameHeader(out, 9 + headerBlock.length, body.length, FRAME.DATA, FLAG.END_STREAM, stream);
    body.copy(out, 18 + headerBlock.length);
    return new Promise<Exchange>((done) => {
      this.pending.set(stream, { chunks: [], sawHeaders: false, sawData: false, done });
      this.socket.write(out);
    });
  }

  close(): void {
    this.broken ??= 'closed by the client';
    this.socket.end();
    this.socket.destroy();
  }

  private fail(reason: string): void {
    this.broken ??= reason;
    for (const [, p] of this.pending) p.done({ ok: false, body: Buffer.alloc(0), failure: reason });
    this.pending.clear();
    for (const wake of this.blocked.splice(0)) wake();
  }

  private onData(chunk: Buffer): void {
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, chunk]) : chunk;
    let at = 0;
    while (this.inbox.length - at >= 9) {
      const length = this.inbox.readUIntBE(at, 3);
      if (this.inbox.length - at < 9 + length) break;
      const type = this.inbox.readUInt8(at + 3);
      const flags = this.inbox.readUInt8(at + 4);
      const stream = this.inbox.readUInt32BE(at + 5) & 0x7fffffff;
      this.onFrame(type, flags, stream, this.inbox.subarray(at + 9, at + 9 + length));
      at += 9 + length;
    }
    this.inbox = at === this.inbox.length ? Buffer.alloc(0) : this.inbox.subarray(at);
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    switch (type) {
      case FRAME.SETTINGS:
        if (flags & FLAG.ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          if (payload.readUInt16BE(i) === SETTING.INITIAL_WINDOW_SIZE) this.peerStreamWindow = payload.readUInt32BE(i + 2);
        }
        this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0)));
        return;
      case FRAME.PING:
        if (!(flags & FLAG.ACK)) this.socket.write(frame(FRAME.PING, FLAG.ACK, 0, payload));
        return;
      case FRAME.WINDOW_UPDATE:
        if (stream === 0) {
          this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          for (const wake of this.blocked.splice(0)) wake();
        }
        return;
      case FRAME.GOAWAY:
        this.fail(`GOAWAY (error code ${payload.readUInt32BE(4)})`);
        return;
      case FRAME.RST_STREAM:
        this.finish(stream, { ok: false, body: Buffer.alloc(0), failure: `stream reset (error code ${payload.readUInt32BE(0)})` });
        return;
      case FRAME.HEADERS: {
        const p = this.pending.get(stream);
        if (!p) return;
        if (flags & FLAG.END_STREAM) {
          const ok = p.sawHeaders && p.sawData;
          this.finish(
            stream,
            ok ? { ok, body: Buffer.concat(p.chunks) } : { ok, body: Buffer.alloc(0), failure: 'Trailers-Only response' },
          );
        } else p.sawHeaders = true;
        return;
      }
      case FRAME.DATA: {
        const p = this.pending.get(stream);
        this.received += payload.length;
        if (this.received > MAX_WINDOW / 2) {
          // Give the connection window back before the server runs out of it.
          const increment = Buffer.alloc(4);
          increment.writeUInt32BE(this.received, 0);
          this.socket.write(frame(FRAME.WINDOW_UPDATE, 0, 0, increment));
          this.received = 0;
        }
        if (!p) return;
        const data = flags & FLAG.PADDED ? payload.subarray(1, payload.length - (payload[0] ?? 0)) : payload;
        // A view: socket reads arrive in fresh buffers that are never written again.
        p.chunks.push(data);
        p.sawData = true;
        if (flags & FLAG.END_STREAM) this.finish(stream, { ok: false, body: Buffer.alloc(0), failure: 'response ended without trailers' });
        return;
      }
      default:
        return;
    }
  }

  private finish(stream: number, x: Exchange): void {
    const p = this.pending.get(stream);
    if (!p) return;
    this.pending.delete(stream);
    p.done(x);
  }
}
