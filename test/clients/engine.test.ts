import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import Provider, { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import { CLIENT_EXTRA_METADATA, createClientAdapter } from '../../adapters/client.ts';
import { type ClientCache, type CreateClientInput, createClient, rotateClientSecret, updateClient } from '../../src/clients/index.ts';
import { installHashedClientSecrets } from '../../src/oidc/client-secret.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { actor, listeningCache, sleep, waitUntil } from './support.ts';

const API = 'https://api.example.test';

/** The smallest adapter for the engine's other models (only opaque ClientCredentials use it here). */
function mapAdapter(name: string, store: Map<string, AdapterPayload>): Adapter {
  const key = (id: string) => `${name}:${id}`;
  return {
    async upsert(id, payload) {
      store.set(key(id), payload);
    },
    async find(id) {
      return store.get(key(id));
    },
    async findByUid() {
      return undefined;
    },
    async findByUserCode() {
      return undefined;
    },
    async consume(id) {
      const p = store.get(key(id));
      if (p) p.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(id) {
      store.delete(key(id));
    },
    async revokeByGrantId() {},
  };
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('hashed client secrets through a real oidc-provider', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let cache: ClientCache;
  let provider: Provider;
  let server: Server;
  let base: string;
  let publicKey: Awaited<ReturnType<typeof generateKeyPair>>['publicKey'];
  const otherModels = new Map<string, AdapterPayload>();

  before(async () => {
    database = await createTestDatabase();
    cache = await listeningCache(database.db, database.url);
    const keys = await generateKeyPair('ES256', { extractable: true });
    publicKey = keys.publicKey;
    const clientAdapter = createClientAdapter(cache);
    provider = new Provider('http://iam.test', {
      adapter: (name: string) => (name === 'Client' ? clientAdapter : mapAdapter(name, otherModels)),
      jwks: { keys: [{ ...(await exportJWK(keys.privateKey)), kid: 'es256-test', alg: 'ES256', use: 'sig' }] },
      extraClientMetadata: { properties: [...CLIENT_EXTRA_METADATA] },
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      ttl: { ClientCredentials: 600 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // Audiences and scopes come from the client's own metadata (allowed_resources / allowed_scopes).
          getResourceServerInfo(_ctx, resource, client) {
            const meta = client as unknown as {
              allowed_resources: string[];
              allowed_scopes: string[];
              access_token_format: 'jwt' | 'opaque';
            };
            if (!meta.allowed_resources.includes(resource))
              throw new errors.InvalidTarget(`resource ${resource} is not allowed for this client`);
            return {
              scope: meta.allowed_scopes.join(' '),
              audience: resource,
              accessTokenFormat: meta.access_token_format,
              jwt: { sign: { alg: 'ES256' } },
            };
          },
        },
      },
    });
    installHashedClientSecrets(provider, (id) => cache.validSecretHashes(id));
    server = createServer(provider.callback());
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((ok) => server?.close(ok));
    await cache?.close();
    await database?.drop();
  });

  async function token(form: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'notes:read', ...form }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  const service = (extra: Partial<CreateClientInput> = {}): CreateClientInput => ({
    name: 'notes-worker',
    grant_types: ['client_credentials'],
    allowed_resources: [API],
    allowed_scopes: ['notes:read'],
    ...extra,
  });

  it('client_secret_basic with the right secret gets a JWT access token for an allowed audience', async () => {
    const { client, secret } = await createClient(database.db, service(), actor);
    const r = await token({}, { authorization: basic(client.client_id, secret as string) });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(r.body).to.include({ token_type: 'Bearer', scope: 'notes:read' });
    const { payload, protectedHeader } = await jwtVerify(r.body.access_token as string, publicKey, {
      audience: API,
      issuer: 'http://iam.test',
    });
    expect(protectedHeader).to.include({ alg: 'ES256', typ: 'at+jwt' });
    expect(payload).to.include({ client_id: client.client_id, scope: 'notes:read' });
  });

  it('client_secret_post with the right secret succeeds; opaque clients get opaque tokens', async () => {
    const { client, secret } = await createClient(
      database.db,
      service({ token_endpoint_auth_method: 'client_secret_post', access_token_format: 'opaque' }),
      actor,
    );
    const r = await token({ client_id: client.client_id, client_secret: secret as string });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(() => decodeJwt(r.body.access_token as string)).to.throw();
    expect(otherModels.size).to.be.greaterThan(0);
  });

  it('a wrong secret, the engine placeholder or an unknown client gets 401 invalid_client', async () => {
    const { client, secret } = await createClient(database.db, service(), actor);
    const wrong = await token({}, { authorization: basic(client.client_id, `${secret}x`) });
    expect(wrong.status).to.equal(401);
    expect(wrong.body.error).to.equal('invalid_client');
    expect(wrong.headers.get('www-authenticate')).to.match(/^Basic/);

    const engineClient = await provider.Client.find(client.client_id);
    const placeholder = (engineClient as unknown as { clientSecret: string }).clientSecret;
    expect(placeholder)
      .to.match(/^hashed:/)
      .and.not.equal(secret);
    expect((await token({}, { authorization: basic(client.client_id, placeholder) })).status).to.equal(401);
    expect((await token({}, { authorization: basic('no-such-client', secret as string) })).status).to.equal(401);
  });

  it('custom metadata reaches the engine; a resource outside allowed_resources is refused', async () => {
    const { client, secret } = await createClient(database.db, service({ first_party: true }), actor);
    const engineClient = (await provider.Client.find(client.client_id)) as unknown as Record<string, unknown>;
    expect(engineClient).to.include({ first_party: true, access_token_format: 'jwt', tenant_id: null, idTokenSignedResponseAlg: 'ES256' });
    expect(engineClient.allowed_resources).to.deep.equal([API]);
    const r = await token({ resource: 'https://other.example.test' }, { authorization: basic(client.client_id, secret as string) });
    expect(r.status).to.equal(400);
    expect(r.body.error).to.equal('invalid_target');
  });

  it('a rotated secret works until the overlap ends, then 401', async () => {
    const { client, secret: old } = await createClient(database.db, service(), actor);
    const auth = (s: string) => ({ authorization: basic(client.client_id, s) });
    expect((await token({}, auth(old as string))).status).to.equal(200);

    const rotated = await rotateClientSecret(database.db, client.client_id, { overlapSeconds: 1 }, actor);
    await waitUntil(async () => (await token({}, auth(rotated.secret))).status === 200, 1_000);
    expect((await token({}, auth(old as string))).status).to.equal(200);

    await sleep(Math.max(0, Date.parse(rotated.previous_secrets[0]?.expires_at as string) - Date.now()) + 50);
    const after = await token({}, auth(old as string));
    expect(after.status).to.equal(401);
    expect(after.body.error).to.equal('invalid_client');
    expect((await token({}, auth(rotated.secret))).status).to.equal(200);

    // Overlap 0: the previous secret is rejected as soon as the change notification lands.
    const again = await rotateClientSecret(database.db, client.client_id, { overlapSeconds: 0 }, actor);
    await waitUntil(async () => (await token({}, auth(rotated.secret))).status === 401, 1_000);
    expect((await token({}, auth(again.secret))).status).to.equal(200);
  });

  it('a disabled client is unknown to the engine until enabled again', async () => {
    const { client, secret } = await createClient(database.db, service(), actor);
    const auth = { authorization: basic(client.client_id, secret as string) };
    expect((await token({}, auth)).status).to.equal(200);
    await updateClient(database.db, client.client_id, { status: 'disabled' }, actor);
    await waitUntil(async () => (await token({}, auth)).status === 401, 1_000);
    await updateClient(database.db, client.client_id, { status: 'active' }, actor);
    await waitUntil(async () => (await token({}, auth)).status === 200, 1_000);
  });

  it('a client_secret_jwt row written behind the API is never served to the engine', async () => {
    const { client } = await createClient(database.db, service(), actor);
    await database.db('oauth_clients').where({ client_id: client.client_id }).update({ token_endpoint_auth_method: 'client_secret_jwt' });
    cache.invalidate(client.client_id);
    expect(await provider.Client.find(client.client_id)).to.equal(undefined);
  });

  it('scope metadata carries only the scopes the engine supports', async () => {
    const { client } = await createClient(
      database.db,
      { name: 'web', redirect_uris: ['https://app.example/cb'], allowed_scopes: ['openid', 'notes:read'] },
      actor,
    );
    expect(await createClientAdapter(cache).find(client.client_id)).to.include({ scope: 'openid' });
    expect(await createClientAdapter(cache, { engineScopes: ['openid', 'notes:read'] }).find(client.client_id)).to.include({
      scope: 'openid notes:read',
    });
    expect((await provider.Client.find(client.client_id))?.scope).to.equal('openid');
  });

  it('the Client adapter is read-only', async () => {
    const adapter = createClientAdapter(cache);
    for (const call of [
      () => adapter.upsert('x', {}),
      () => adapter.destroy('x'),
      () => adapter.consume('x'),
      () => adapter.revokeByGrantId('x'),
    ]) {
      let failed = false;
      await call().catch(() => {
        failed = true;
      });
      expect(failed).to.equal(true);
    }
  });
});
