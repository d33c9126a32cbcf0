import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ConfigError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';

/** contracts/proto, the root every `import` in our .proto files is relative to. */
export const PROTO_ROOT = join(import.meta.dirname, '..', '..', 'contracts', 'proto');

/*
 * keepCase: handlers see the contract's snake_case names, the same as the REST bodies.
 * longs as numbers: revisions stay far below 2^53 (a larger min_revision fails validation).
 * enums as their names, defaults filled, `oneofs` names the set member of a oneof.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

/** The gRPC package definition of one of our contract files, e.g. `iam/v1/authorization.proto`. */
export function loadContract(file: string): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(join(PROTO_ROOT, file), PROTO_LOADER_OPTIONS));
}

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Mutual TLS (Profile C); absent: plaintext, which the config allows on loopback only. */
  tls?: { certFile: string; keyFile: string; clientCaFile: string };
  logger: Logger;
  register(server: grpc.Server): void;
}

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting calls, lets running ones finish until the deadline, then cuts the rest. */
  close(timeoutMs: number): Promise<void>;
}

function credentials(tls: GrpcServerOptions['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  try {
    return grpc.ServerCredentials.createSsl(
      readFileSync(tls.clientCaFile),
      [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
      true,
    );
  } catch (err) {
    throw new ConfigError(`grpc TLS files could not be read: ${(err as Error).message}`);
  }
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server({
    // Small messages only (a batch of 100 checks is a few KiB).
    'grpc.max_receive_message_length': 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
    // Channelz (grpc-js's introspection service) is not exposed here; left on, it tracks every call.
    'grpc.enable_channelz': 0,
  });
  opts.register(server);
  const address = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync(address, credentials(opts.tls), (err, bound) => (err ? fail(err) : ok(bound))),
  );
  opts.logger.info({ port, tls: Boolean(opts.tls) }, 'gRPC listening');
  return {
    port,
    close(timeoutMs) {
      return new Promise<void>((done) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          done();
        }, timeoutMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          done();
        });
      });
    },
  };
}
