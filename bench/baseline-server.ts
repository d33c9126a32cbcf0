// The benchmark's yardstick: a bare oidc-provider with its in-memory adapter, configured to offer the
// same operations as the service (client_credentials with JWT or opaque access tokens chosen per
// resource, introspection, revocation, ES256, discovery, JWKS) and nothing else. No Koa app around it,
// no database, no Redis: the ratio iam/baseline is the price of everything we add to the engine.
//
// Run by bench/run.ts as its own child process (so the two servers never share an event loop with each
// other or with the load generator). Reads its settings from BENCH_BASELINE (JSON, see BaselineSettings),
// listens on 127.0.0.1 and prints one JSON line `{"ready": true}` on stdout when ready.
//
// The service's V8 settings apply here too (ADR-0020), so the ratio compares engines, not V8 flags.
import '../src/runtime/gc-tuning.ts';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Provider, { type Configuration, type JWK } from 'oidc-provider';
import { floorRest, startFloorGrpc } from './transport-floor.ts';

export interface BaselineSettings {
  /** Port to listen on (chosen free by the parent: the issuer URL must carry it). */
  port: number;
  clientId: string;
  clientSecret: string;
  /** Resource indicator that gets ES256 JWT access tokens (RFC 9068 shape). */
  jwtResource: string;
  /** Resource indicator that gets opaque access tokens (stored in the in-memory adapter). */
  opaqueResource: string;
  scope: string;
  /** Port of the check API's transport floor over gRPC (bench/transport-floor.ts). */
  floorGrpcPort: number;
}

const settings = JSON.parse(process.env.BENCH_BASELINE ?? '') as BaselineSettings;

// One ES256 signing key, like the service's access-token key.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' } as JWK;

const configuration: Configuration = {
  jwks: { keys: [signingKey] },
  // A static client is validated once and cached by the engine: the cheapest possible client lookup.
  clients: [
    {
      client_id: settings.clientId,
      client_secret: settings.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: settings.scope.split(' '),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource) => ({
        scope: settings.scope,
        audience: resource,
        accessTokenTTL: 600,
        ...(resource === settings.jwtResource
          ? { accessTokenFormat: 'jwt' as const, jwt: { sign: { alg: 'ES256' } } }
          : { accessTokenFormat: 'opaque' as const }),
      }),
    },
  },
  responseTypes: ['code'],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  routes: { jwks: '/.well-known/jwks.json' },
  // A fixed key keeps the engine from warning about (and generating) ephemeral cookie keys.
  cookies: { keys: [randomUUID()] },
};

const provider = new Provider(`http://127.0.0.1:${settings.port}`, configuration);
// Errors surface through the load generator's non-2xx counts; the engine's own logging would only add noise.
provider.on('server_error', (_ctx, err) => console.error('baseline server_error', err));

// The transport floor's REST route is answered before the engine sees the request (one string compare
// for every other request: noise next to the engine's own routing).
const engine = provider.callback();
const server = createServer((req, res) => {
  if (!floorRest(req, res)) engine(req, res);
});
const floorGrpc = await startFloorGrpc(settings.floorGrpcPort);
server.listen(settings.port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
});
// Match the service's keep-alive behaviour so idle load-generator sockets are not reaped mid-run.
server.keepAliveTimeout = 65_000;

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    server.closeAllConnections();
    void floorGrpc.close(1000);
    server.close(() => process.exit(0));
  });
}
// The parent owns this process: when it goes away (even by SIGKILL) the IPC-less pipe closes; exit too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
