// Closed-loop load over gRPC (autocannon speaks HTTP/1.1 only): `connections` channels, one call in
// flight on each, requests round-robin, latency per call at sub-millisecond resolution — the same
// figures runLoad reports for HTTP.
import * as grpc from '@grpc/grpc-js';
import { loadContract } from '../src/grpc/server.ts';
import type { LoadOptions, LoadResult } from './scenarios.ts';

type Unary = (request: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => grpc.ClientUnaryCall;

export async function runGrpcLoad(opts: {
  address: string;
  method: string;
  token: string;
  requests: unknown[];
  verify: (res: unknown) => boolean;
  load: LoadOptions;
}): Promise<LoadResult> {
  const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
    iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
  };
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${opts.token}`);
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let next = 0;
  let errors = 0;
  let sample: string | undefined;
  const started = performance.now();
  const until = started + opts.load.seconds * 1000;
  const worker = async () => {
    // A channel per worker: separate HTTP/2 connections, like autocannon's connections.
    const client = new pkg.iam.v1.AuthorizationService(opts.address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
    const call = (client as unknown as Record<string, Unary>)[opts.method] as Unary;
    try {
      while (performance.now() < until) {
        const req = opts.requests[next++ % opts.requests.length];
        const t0 = performance.now();
        const { err, res } = await new Promise<{ err: grpc.ServiceError | null; res?: unknown }>((done) =>
          call.call(client, req, md, (e, r) => done({ err: e, res: r })),
        );
        const code = String(err?.code ?? 0);
        statusCodes[code] = (statusCodes[code] ?? 0) + 1;
        if (err || !opts.verify(res)) {
          errors++;
          sample ??= err ? `${err.code} ${err.details}` : JSON.stringify(res).slice(0, 200);
        } else {
          latencies.push(performance.now() - t0);
        }
      }
    } finally {
      client.close();
    }
  };
  await Promise.all(Array.from({ length: opts.load.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies.length ? (latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0) : 0;
  const requests = latencies.length + errors;
  return { requests, seconds, rps: requests / seconds, p50: pct(50), p99: pct(99), non2xx: 0, errors, statusCodes, sample };
}
