import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { H2WireConnection, headerBlocks } from '../../bench/h2-wire.ts';
import { startFloorGrpc } from '../../bench/transport-floor.ts';
import type { GrpcServer } from '../../src/grpc/server.ts';
import { PROTO_LOADER_OPTIONS, PROTO_ROOT } from '../../src/grpc/server.ts';

// The bench's lean HTTP/2 client against a real grpc-js server (the transport floor): its numbers are
// only worth something if every exchange it counts as OK was one.

interface Codec {
  path: string;
  requestSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
}

const codec = (
  protoLoader.loadSync(join(PROTO_ROOT, 'iam/v1/authorization.proto'), PROTO_LOADER_OPTIONS)[
    'iam.v1.AuthorizationService'
  ] as unknown as Record<string, Codec>
).Check as Codec;

function grpcMessage(m: Buffer): Buffer {
  const out = Buffer.alloc(5 + m.length);
  out.writeUInt32BE(m.length, 1);
  m.copy(out, 5);
  return out;
}

const body = grpcMessage(
  codec.requestSerialize({
    principal: { type: 'PRINCIPAL_TYPE_USER', id: '0b9f5a7c-7f0e-4a53-9b45-3f0c9a0b1c2d' },
    permission: 'docs.pages.read',
    scope_chain: [{ type: 'SCOPE_TYPE_TEAM', id: 'team-1' }],
  }),
);

describe('bench HTTP/2 wire client', () => {
  let server: GrpcServer;
  before(async () => {
    server = await startFloorGrpc(0);
  });
  after(async () => {
    await server?.close(1_000);
  });
  const headers = (path: string, token = 'x'.repeat(700)): [string, string][] => [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':authority', `127.0.0.1:${server.port}`],
    [':path', path],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['authorization', `Bearer ${token}`],
  ];

  it('indexes the fields once per connection, then one byte per field', () => {
    const blocks = headerBlocks(headers(codec.path));
    expect(blocks.first.length).to.be.greaterThan(700);
    expect(blocks.repeat).to.have.length(7);
    expect([...blocks.repeat].every((b) => b >= 0x80 + 62)).to.equal(true);
    // Fields that would not fit the server's table go as literals every time.
    const huge = headerBlocks(headers(codec.path, 'y'.repeat(5000)));
    expect(huge.repeat.equals(huge.first)).to.equal(true);
  });

  it('completes thousands of unary calls on one connection past the initial flow-control windows', async () => {
    const c = await H2WireConnection.open('127.0.0.1', server.port);
    try {
      const blocks = headerBlocks(headers(codec.path));
      // 3000 requests of ~90 bytes: well past the 65,535-byte connection window the server starts with.
      for (let i = 0; i < 3000; i++) {
        const x = await c.request(blocks, body);
        expect(x.ok, x.failure).to.equal(true);
        const res = codec.responseDeserialize(x.body.subarray(5)) as { allowed: boolean; decision_id: string };
        expect(res.allowed).to.equal(true);
        expect(res.decision_id).to.match(/^[0-9a-f-]{36}$/);
      }
    } finally {
      c.close();
    }
  });

  it('reports a Trailers-Only answer (a gRPC error) as failed, and the connection stays usable', async () => {
    const c = await H2WireConnection.open('127.0.0.1', server.port);
    try {
      const unknown = await c.request(headerBlocks(headers('/iam.v1.AuthorizationService/NoSuchMethod')), body);
      expect(unknown).to.include({ ok: false, failure: 'Trailers-Only response' });
      // Same connection, another request shape: literal fields again, then a good call.
      const x = await c.request({ first: headerBlocks(headers(codec.path)).first, repeat: headerBlocks(headers(codec.path)).first }, body);
      expect(x.ok, x.failure).to.equal(true);
    } finally {
      c.close();
    }
  });

  it('fails pending and later calls when the connection goes', async () => {
    const c = await H2WireConnection.open('127.0.0.1', server.port);
    c.close();
    const x = await c.request(headerBlocks(headers(codec.path)), body);
    expect(x.ok).to.equal(false);
    expect(x.failure).to.be.a('string');
  });
});
