// The check API rows' baseline: the transports alone. The bare engine has no check API, so what the bench
// can put beside the service's figures is the cost of getting a check request in and a decision out on
// this machine at this moment — an HTTP/1.1 route on node:http and the contract's gRPC service on grpc-js,
// each parsing the request and answering a constant decision with a fresh id, nothing else. The service's
// p99 target (DESIGN §7: < 2 ms cached) is judged on the service's own figures; the floor says how much of
// that budget the machine and the transport take before IAM does any work (ADR-0016 amendment).
//
// Runs inside the baseline's process (bench/baseline-server.ts): that process idles while the check rows
// run, and the floor's gRPC server is the service's own (startGrpcServer: same options, same library).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import { type GrpcServer, loadContract, startGrpcServer } from '../src/grpc/server.ts';
import { createLogger } from '../src/observability/logger.ts';

/** Same path as the service's REST check route. */
const FLOOR_REST_PATH = '/v1/authz/check';

const decision = () => ({
  allowed: true,
  decision_id: randomUUID(),
  revision: 1,
});

/** Answers POST /v1/authz/check; returns false for any other request (the engine serves those). */
export function floorRest(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'POST' || req.url !== FLOOR_REST_PATH) return false;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { principal?: { type?: string; id?: string } };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/problem+json' }).end('{"title":"malformed JSON"}');
      return;
    }
    const scope = { type: 'team', id: 'team-1' };
    const text = JSON.stringify({
      ...decision(),
      reason: { kind: 'binding', binding_id: randomUUID(), role_key: 'editor', scope },
      principal: body.principal,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  });
  return true;
}

/** iam.v1.AuthorizationService with Check only, answering every call with an allow. */
export async function startFloorGrpc(port: number): Promise<GrpcServer> {
  const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
    iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
  };
  return startGrpcServer({
    host: '127.0.0.1',
    port,
    logger: createLogger({ level: 'warn' }),
    register(server) {
      server.addService(pkg.iam.v1.AuthorizationService.service, {
        Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
          callback(null, {
            ...decision(),
            reason: {
              binding: { binding_id: randomUUID(), role_key: 'editor', scope: { type: 'SCOPE_TYPE_TEAM', id: 'team-1' } },
            },
          }),
      });
    },
  });
}
