import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import Koa from 'koa';
import compose from 'koa-compose';
import Provider from 'oidc-provider';
import { installStructuredIntrospectionSeam, STRUCTURED_TOKEN } from '../../src/oidc/structured-introspection.ts';

// The seam in the engine's introspection chain (src/oidc/structured-introspection.ts), on a bare engine:
// a JWT is handed over only after the engine's own checks passed, and nothing else changes.
describe('oidc: JWT introspection seam in the engine chain', () => {
  let origin: string;
  let close: () => void;
  const errors: string[] = [];
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  let jwt: string;

  before(async () => {
    installStructuredIntrospectionSeam();
    installStructuredIntrospectionSeam(); // idempotent
    const provider = new Provider('http://127.0.0.1', {
      clients: [{ client_id: 'rs', client_secret: 'a-long-enough-secret', grant_types: [], redirect_uris: [], response_types: [] }],
      features: { introspection: { enabled: true }, devInteractions: { enabled: false } },
    });
    provider.on('introspection.error', (_ctx: unknown, err: { error?: string }) => errors.push(String(err.error)));
    const app = new Koa();
    app.use(async (ctx, next) => {
      await next();
      if ((ctx.state as Record<symbol, unknown>)[STRUCTURED_TOKEN]) {
        ctx.status = 200;
        ctx.body = { handed_over: true };
      }
    });
    app.use(compose(provider.middleware));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
    jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(Buffer.alloc(32, 1));
  });
  after(() => close());
  beforeEach(() => {
    errors.length = 0;
  });

  const introspect = (body: string, authorization = basic('rs', 'a-long-enough-secret')) =>
    fetch(`${origin}/token/introspection`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });

  it('hands a JWT over without the engine raising unsupported_token_type', async () => {
    const res = await introspect(`token=${jwt}`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ handed_over: true });
    expect(errors).to.deep.equal([]);
  });

  it('client authentication still comes first: a wrong secret is 401 and nothing is handed over', async () => {
    const res = await introspect(`token=${jwt}`, basic('rs', 'wrong-secret-value'));
    expect(res.status).to.equal(401);
    expect(((await res.json()) as { error: string }).error).to.equal('invalid_client');
  });

  it('duplicated and missing parameters are still the engine’s errors', async () => {
    const dup = await introspect(`token=${jwt}&token=${jwt}`);
    expect(dup.status).to.equal(400);
    expect(((await dup.json()) as { error: string }).error).to.equal('invalid_request');
    const missing = await introspect('token_type_hint=access_token');
    expect(missing.status).to.equal(400);
  });

  it('a JWS the quick test does not spot still meets the engine’s own rejection (token-endpoints handles that event)', async () => {
    const header = Buffer.from('{ "alg": "HS256" }').toString('base64url'); // "eyAi…", not "eyJ…"
    const res = await introspect(`token=${header}.${Buffer.from('{}').toString('base64url')}.c2ln`);
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { error: string }).error).to.equal('unsupported_token_type');
    expect(errors).to.deep.equal(['unsupported_token_type']);
  });

  it('anything that is not a JWS goes on through the engine unchanged', async () => {
    for (const token of ['an-opaque-token-value-of-some-length', 'eyJub3QtanNvbg.x.y']) {
      const res = await introspect(`token=${encodeURIComponent(token)}`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ active: false });
    }
    expect(errors).to.deep.equal([]);
  });
});
