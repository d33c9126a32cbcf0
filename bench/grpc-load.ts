// Closed-loop load over gRPC (autocannon speaks HTTP/1.1 only): `connections` HTTP/2 connections, one
// call in flight on each, requests round-robin, latency per call at sub-millisecond resolution — the same
// figures runLoad reports for HTTP.
//
// The generator must cost little next to the server it measures, on a machine where both share two cores,
// for the reason autocannon is used for HTTP. Two clients were tried and dropped, both for the same cause —
// each HTTP/2 stream is a native handle that keeps its JS objects reachable until a full collection, so
// every call's objects are promoted and scavenges get long:
// - @grpc/grpc-js's client: ~10 % of its time in scavenges of 10–40 ms; p99 4–20 ms with the server
//   answering in a fraction of that;
// - a node:http2 client: ~400 ms of every 7 s in scavenges of 10–20 ms (12 MB survivors each) at the
//   floor's ~10,000 calls/s, parallel scavenges that also take the server's core.
// So calls go over bench/h2-wire.ts (frames by hand, ~25 ms of GC per 7 s), with the request fields
// indexed in the server's HPACK table once per connection as gRPC clients do. Requests are serialized once
// up front (as autocannon builds its requests once); answers are decoded to verify them. A failed call is
// explained by asking node:http2's client, which decodes the status, once after the run.

import { type ClientHttp2Session, connect, constants, type IncomingHttpHeaders } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS, PROTO_ROOT } from '../src/grpc/server.ts';
import { H2WireConnection, headerBlocks } from './h2-wire.ts';
import { percentileOf } from './percentile.ts';
import type { LoadOptions, LoadResult } from './scenarios.ts';

const SERVICE = 'iam.v1.AuthorizationService';

interface MethodCodec {
  path: string;
  requestSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** One length-prefixed gRPC message (PROTOCOL-HTTP2.md): 1 byte "compressed" = 0, 4 bytes big-endian length, payload. */
function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

interface Answer {
  status: number;
  message?: string;
  body?: Buffer;
}

/** One unary call on an open session: resolves with the grpc-status (trailers or trailers-only headers) and the response message. */
function unary(session: ClientHttp2Session, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    let status: number | undefined;
    let message: string | undefined;
    const grpcStatus = (h: IncomingHttpHeaders) => {
      const s = h['grpc-status'];
      if (s !== undefined) {
        status = Number(s);
        message = typeof h['grpc-message'] === 'string' ? decodeURIComponent(h['grpc-message']) : undefined;
      }
    };
    const stream = session.request(headers, { endStream: false });
    stream.on('response', grpcStatus);
    stream.on('trailers', grpcStatus);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err: Error) => {
      status ??= -1;
      message ??= err.message;
    });
    stream.on('close', () => {
      const data = Buffer.concat(chunks);
      done({ status: status ?? -1, message: message ?? (status === undefined ? 'no grpc-status' : undefined), body: data.subarray(5) });
    });
    stream.end(body);
  });
}

function openSession(address: string): Promise<ClientHttp2Session> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((ok, fail) => {
    // Node's HTTP/2 client leaves Nagle on; every gRPC client turns it off (grpc-js does too).
    const session = connect(`http://${address}`, { createConnection: () => tcpConnect({ host, port, noDelay: true }) });
    session.once('connect', () => {
      session.off('error', fail);
      // A broken connection fails its calls (their streams error); the session's own error is not news.
      session.on('error', () => undefined);
      ok(session);
    });
    session.once('error', fail);
  });
}

export async function runGrpcLoad(opts: {
  address: string;
  method: string;
  token: string;
  requests: unknown[];
  verify: (res: unknown) => boolean;
  load: LoadOptions;
}): Promise<LoadResult> {
  const definition = protoLoader.loadSync(join(PROTO_ROOT, 'iam/v1/authorization.proto'), PROTO_LOADER_OPTIONS);
  const codec = (definition[SERVICE] as unknown as Record<string, MethodCodec> | undefined)?.[opts.method];
  if (!codec) throw new Error(`${SERVICE}/${opts.method} is not in the contract`);
  const bodies = opts.requests.map((r) => frame(codec.requestSerialize(r)));
  const [host, port] = [
    opts.address.slice(0, opts.address.lastIndexOf(':')),
    Number(opts.address.slice(opts.address.lastIndexOf(':') + 1)),
  ];
  const headers: [string, string][] = [
    [constants.HTTP2_HEADER_METHOD, 'POST'],
    [constants.HTTP2_HEADER_SCHEME, 'http'],
    [constants.HTTP2_HEADER_AUTHORITY, opts.address],
    [constants.HTTP2_HEADER_PATH, codec.path],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['authorization', `Bearer ${opts.token}`],
  ];
  const blocks = headerBlocks(headers);
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let next = 0;
  let errors = 0;
  let failed: { body: Buffer; failure: string } | undefined;
  // Connections are open before the clock starts, as autocannon's are by its first request.
  const connections = await Promise.all(Array.from({ length: opts.load.connections }, () => H2WireConnection.open(host, port)));
  const started = performance.now();
  const until = started + opts.load.seconds * 1000;
  const worker = async (connection: H2WireConnection) => {
    while (performance.now() < until) {
      const body = bodies[next++ % bodies.length] as Buffer;
      const t0 = performance.now();
      const answer = await connection.request(blocks, body);
      const t1 = performance.now();
      let ok = answer.ok;
      if (ok) {
        try {
          ok = opts.verify(codec.responseDeserialize(answer.body.subarray(5)));
        } catch {
          ok = false;
        }
      }
      if (ok) {
        statusCodes['0'] = (statusCodes['0'] ?? 0) + 1;
        latencies.push(t1 - t0);
      } else {
        errors++;
        failed ??= { body, failure: answer.failure ?? 'the answer did not verify' };
      }
    }
  };
  try {
    await Promise.all(connections.map(worker));
  } finally {
    for (const c of connections) c.close();
  }
  const seconds = (performance.now() - started) / 1000;
  // The lean connection does not decode HPACK: ask a decoding client what a failed request gets.
  let sample: string | undefined;
  if (failed) {
    const why = await explain(
      opts.address,
      Object.fromEntries(headers.filter(([k]) => !k.startsWith(':') || k === ':method' || k === ':path')),
      failed.body,
    ).catch((err: Error) => ({ status: -1, message: err.message }));
    statusCodes[String(why.status)] = errors;
    sample = `${why.status} ${why.message ?? ''} (${failed.failure})`.trim();
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => percentileOf(latencies, p);
  const requests = latencies.length + errors;
  return { requests, seconds, rps: requests / seconds, p50: pct(50), p99: pct(99), non2xx: 0, errors, statusCodes, sample, latencies };
}

/** One call over node:http2, whose client decodes the grpc-status and grpc-message of the answer. */
async function explain(address: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; message?: string }> {
  const session = await openSession(address);
  try {
    return await unary(session, headers, body);
  } finally {
    session.close();
  }
}
