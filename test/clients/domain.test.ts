import { createHash } from 'node:crypto';
import { expect } from 'chai';
import {
  type CreateClientInput,
  createClient,
  deleteClient,
  getClient,
  listClients,
  rotateClientSecret,
  updateClient,
} from '../../src/clients/index.ts';
import { AppError } from '../../src/errors/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { actor, everythingStored } from './support.ts';

async function rejects(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

const web: CreateClientInput = {
  name: 'Web app',
  grant_types: ['authorization_code', 'refresh_token'],
  redirect_uris: ['https://app.example/cb'],
};

describe('clients domain', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  const audit = (clientId: string) =>
    database
      .db('audit_events')
      .where({ target_type: 'client', target_id: clientId })
      .orderBy('occurred_at')
      .select('action', 'actor_type', 'actor_id', 'details', 'tenant_id');
  const events = (clientId: string) =>
    database.db('outbox_events').where({ key: clientId }).orderBy('position').select('type', 'topic', 'data', 'tenant_id');

  describe('create', () => {
    it('registers a confidential client with a one-time secret stored only as its SHA-256, with audit and outbox rows', async () => {
      const { client, secret } = await createClient(
        database.db,
        { ...web, first_party: true, allowed_scopes: ['openid', 'profile'] },
        actor,
      );
      expect(client.client_id).to.match(/^cl_[A-Za-z0-9]{16}$/);
      expect(client).to.include({
        name: 'Web app',
        status: 'active',
        first_party: true,
        token_endpoint_auth_method: 'client_secret_basic',
      });
      expect(client.grant_types).to.deep.equal(['authorization_code', 'refresh_token']);
      expect(client.response_types).to.deep.equal(['code']);
      expect(client.allowed_scopes).to.deep.equal(['openid', 'profile']);
      expect(client.access_token_format).to.equal('jwt');
      expect(client.tenant_id).to.equal(null);
      expect(secret).to.match(/^[A-Za-z0-9_-]{43}$/);

      const [row] = await database
        .db('client_secrets as s')
        .join('oauth_clients as c', 'c.id', 's.client_id')
        .where('c.client_id', client.client_id)
        .select('s.secret_hash', 's.hint', 's.expires_at', 's.revoked_at');
      expect(
        Buffer.compare(
          row.secret_hash,
          createHash('sha256')
            .update(secret as string)
            .digest(),
        ),
      ).to.equal(0);
      expect(row.hint).to.equal((secret as string).slice(-4));
      expect(row.expires_at).to.equal(null);

      expect(await audit(client.client_id)).to.deep.equal([
        {
          action: 'client.created',
          actor_type: 'system',
          actor_id: 'test',
          tenant_id: null,
          details: {
            grant_types: ['authorization_code', 'refresh_token'],
            token_endpoint_auth_method: 'client_secret_basic',
            first_party: true,
          },
        },
      ]);
      expect(await events(client.client_id)).to.deep.equal([
        { type: 'com.infranotes.iam.client.created', topic: 'iam.client.v1', data: { client_id: client.client_id }, tenant_id: null },
      ]);

      // The plaintext is nowhere at rest: not in the client or secret rows, nor in audit or outbox.
      const stored = await everythingStored(database.db);
      expect(stored).not.to.include(secret);
      expect(stored).not.to.include(Buffer.from(secret as string).toString('hex'));
      expect(stored).not.to.include(Buffer.from(secret as string).toString('base64'));
    });

    it('gives public and private_key_jwt clients no secret', async () => {
      const pub = await createClient(
        database.db,
        {
          ...web,
          name: 'SPA',
          token_endpoint_auth_method: 'none',
          redirect_uris: ['http://localhost:5173/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]/cb'],
        },
        actor,
      );
      expect(pub.secret).to.equal(undefined);
      const pkj = await createClient(
        database.db,
        {
          name: 'svc',
          grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: 'https://svc.example/jwks.json',
        },
        actor,
      );
      expect(pkj.secret).to.equal(undefined);
      expect(pkj.client.response_types).to.deep.equal([]);
      expect(pkj.client.allowed_scopes).to.deep.equal([]);
      for (const c of [pub.client, pkj.client]) expect((await getClient(database.db, c.client_id)).secrets).to.deep.equal([]);
    });

    it('keeps a valid given client_id and refuses a taken one', async () => {
      const { client } = await createClient(database.db, { ...web, client_id: 'notes-web' }, actor);
      expect(client.client_id).to.equal('notes-web');
      const err = await rejects(createClient(database.db, { ...web, client_id: 'notes-web' }, actor));
      expect(err.code).to.equal('conflict');
      expect((await rejects(createClient(database.db, { ...web, client_id: 'a b' }, actor))).code).to.equal('validation_failed');
    });

    const invalidRedirects: [string, RegExp][] = [
      ['/callback', /absolute/],
      ['app.example/cb', /absolute/],
      ['https://app.example/cb#frag', /fragment/],
      ['https://*.example/cb', /wildcard/],
      ['https://app.example/*', /wildcard/],
      ['http://app.example/cb', /loopback/],
      ['http://10.0.0.1/cb', /loopback/],
      ['javascript:alert(1)', /scheme javascript: is not allowed/],
      ['data:text/html,hi', /scheme data: is not allowed/],
      ['com.example.app:/cb', /not allowed/],
      ['https://user:pw@app.example/cb', /credentials/],
      [' https://app.example/cb', /whitespace/],
      ['https://app.example/caf\u00e9', /non-ASCII/],
    ];
    for (const [uri, reason] of invalidRedirects) {
      it(`rejects the redirect URI ${JSON.stringify(uri)}`, async () => {
        const err = await rejects(createClient(database.db, { ...web, redirect_uris: [uri] }, actor));
        expect(err.code).to.equal('validation_failed');
        expect(err.invalidParams?.[0]?.name).to.equal('redirect_uris.0');
        expect(err.detail).to.match(reason);
        const post = await rejects(createClient(database.db, { ...web, post_logout_redirect_uris: [uri] }, actor));
        expect(post.invalidParams?.[0]?.name).to.equal('post_logout_redirect_uris.0');
      });
    }

    it('rejects the implicit and password grants, unknown grants, and client_secret_jwt', async () => {
      for (const grant of ['implicit', 'password']) {
        const err = await rejects(createClient(database.db, { ...web, grant_types: ['authorization_code', grant] }, actor));
        expect(err.detail).to.match(new RegExp(`${grant} grant is not allowed \\(RFC 9700\\)`));
      }
      expect((await rejects(createClient(database.db, { ...web, grant_types: ['urn:example:magic'] }, actor))).detail).to.match(
        /unsupported grant type/,
      );
      expect((await rejects(createClient(database.db, { ...web, grant_types: [] }, actor))).detail).to.match(/at least one grant type/);
      const jwt = await rejects(createClient(database.db, { ...web, token_endpoint_auth_method: 'client_secret_jwt' as 'none' }, actor));
      expect(jwt.detail).to.match(/client_secret_jwt is not supported/);
    });

    it('enforces the rules across members', async () => {
      const cases: [CreateClientInput, RegExp][] = [
        [{ name: 'x', grant_types: ['authorization_code'] }, /need at least one redirect URI/],
        [{ name: 'x', grant_types: ['client_credentials'], redirect_uris: ['https://a.example/cb'] }, /only to authorization_code/],
        [{ name: 'x', grant_types: ['refresh_token', 'client_credentials'] }, /refresh_token needs authorization_code/],
        [
          { name: 'x', grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' },
          /public clients .* cannot use client_credentials/,
        ],
        [
          { name: 'x', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' },
          /private_key_jwt needs jwks_uri or jwks/,
        ],
        [{ ...web, application_type: 'native', redirect_uris: ['https://localhost/cb'] }, /native clients must use http/],
        [{ ...web, allowed_resources: ['/api'] }, /absolute/],
        [{ ...web, allowed_resources: ['https://api.example/#x'] }, /fragment/],
        [{ ...web, allowed_scopes: ['has space'] }, /scope token/],
        [{ ...web, backchannel_logout_uri: 'http://rp.example/logout' }, /loopback/],
        [{ ...web, name: '  ' }, /name: must not be empty/],
        [{ ...web, unknown_member: true } as CreateClientInput, /unrecognized key/i],
      ];
      for (const [input, reason] of cases) {
        const err = await rejects(createClient(database.db, input, actor));
        expect(err.code, JSON.stringify(input)).to.equal('validation_failed');
        expect(err.detail, JSON.stringify(input)).to.match(reason);
      }
    });

    it('places a client in an existing tenant only', async () => {
      const [tenant] = await database.db('tenants').insert({ slug: 'acme-domain', name: 'Acme' }).returning('id');
      const { client } = await createClient(database.db, { ...web, tenant_id: tenant.id }, actor);
      expect(client.tenant_id).to.equal(tenant.id);
      expect((await audit(client.client_id))[0].tenant_id).to.equal(tenant.id);
      expect((await events(client.client_id))[0].tenant_id).to.equal(tenant.id);
      const missing = await rejects(createClient(database.db, { ...web, tenant_id: '0193a1e0-55aa-7c10-8d2e-3f6b9a0e1c42' }, actor));
      expect(missing.detail).to.match(/tenant .* does not exist/);

      expect((await listClients(database.db, { tenantId: tenant.id })).map((c) => c.client_id)).to.deep.equal([client.client_id]);
      expect((await listClients(database.db, { tenantId: null })).some((c) => c.client_id === client.client_id)).to.equal(false);
      // A caller confined to another tenant sees nothing and changes nothing.
      const other = { tenantId: '0193a1e0-55aa-7c10-8d2e-3f6b9a0e1c43' };
      expect((await rejects(getClient(database.db, client.client_id, other))).code).to.equal('not_found');
      expect((await rejects(updateClient(database.db, client.client_id, { name: 'x' }, actor, other))).code).to.equal('not_found');
      expect((await rejects(deleteClient(database.db, client.client_id, actor, other))).code).to.equal('not_found');
      expect((await getClient(database.db, client.client_id)).name).to.equal('Web app');
    });
  });

  describe('update', () => {
    it('changes only the given members, records what changed and moves the version', async () => {
      const { client } = await createClient(database.db, web, actor);
      const r = await updateClient(
        database.db,
        client.client_id,
        {
          name: 'Web app 2',
          redirect_uris: ['https://app.example/cb', 'https://app.example/cb2'],
          access_token_format: 'opaque',
          expected_version: client.version,
        },
        actor,
      );
      expect(r.changed).to.deep.equal(['name', 'redirect_uris', 'access_token_format']);
      expect(r.client).to.include({ name: 'Web app 2', access_token_format: 'opaque', first_party: false });
      expect(r.client.redirect_uris).to.have.length(2);
      expect(r.client.version).not.to.equal(client.version);
      expect(r.secret).to.equal(undefined);
      const [, updated] = await audit(client.client_id);
      expect(updated).to.include({ action: 'client.updated' });
      expect(updated.details.changed).to.deep.equal(r.changed);
      const [, event] = await events(client.client_id);
      expect(event).to.deep.include({
        type: 'com.infranotes.iam.client.updated',
        data: { client_id: client.client_id, changed: r.changed },
      });
    });

    it('refuses a stale version (optimistic concurrency) and validates the merged client', async () => {
      const { client } = await createClient(database.db, web, actor);
      await updateClient(database.db, client.client_id, { description: 'first' }, actor);
      const stale = await rejects(
        updateClient(database.db, client.client_id, { description: 'second', expected_version: client.version }, actor),
      );
      expect(stale.code).to.equal('precondition_failed');
      const merged = await rejects(updateClient(database.db, client.client_id, { grant_types: ['client_credentials'] }, actor));
      expect(merged.detail).to.match(/redirect URIs apply only to authorization_code clients/);
      expect(
        (await rejects(updateClient(database.db, client.client_id, { redirect_uris: ['https://x.example/cb#f'] }, actor))).code,
      ).to.equal('validation_failed');
      expect((await rejects(updateClient(database.db, 'no-such-client', { name: 'x' }, actor))).code).to.equal('not_found');
      expect((await getClient(database.db, client.client_id)).description).to.equal('first');
    });

    it('records nothing when nothing changes', async () => {
      const { client } = await createClient(database.db, web, actor);
      const r = await updateClient(database.db, client.client_id, { name: 'Web app', first_party: false }, actor);
      expect(r.changed).to.deep.equal([]);
      expect(r.client.version).to.equal(client.version);
      expect(await audit(client.client_id)).to.have.length(1);
    });

    it('disables and enables; switching auth methods revokes or issues secrets', async () => {
      const { client } = await createClient(database.db, web, actor);
      const off = await updateClient(database.db, client.client_id, { status: 'disabled' }, actor);
      expect(off.client.status).to.equal('disabled');
      expect(off.client.disabled_at).to.be.a('string');
      const on = await updateClient(database.db, client.client_id, { status: 'active' }, actor);
      expect(on.client.disabled_at).to.equal(null);

      const pub = await updateClient(database.db, client.client_id, { token_endpoint_auth_method: 'none' }, actor);
      expect(pub.secret).to.equal(undefined);
      expect((await getClient(database.db, client.client_id)).secrets.map((s) => s.state)).to.deep.equal(['revoked']);
      const back = await updateClient(database.db, client.client_id, { token_endpoint_auth_method: 'client_secret_post' }, actor);
      expect(back.secret).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect((await getClient(database.db, client.client_id)).secrets.map((s) => s.state)).to.deep.equal(['active', 'revoked']);
    });
  });

  describe('rotate-secret', () => {
    it('issues a new secret and keeps previous ones valid for the overlap (default 24 h)', async () => {
      const { client, secret: first } = await createClient(database.db, web, actor);
      const r = await rotateClientSecret(database.db, client.client_id, {}, actor);
      expect(r.secret).not.to.equal(first);
      expect(r.overlap_seconds).to.equal(86_400);
      expect(r.previous_secrets).to.have.length(1);
      const expires = Date.parse(r.previous_secrets[0]?.expires_at as string);
      expect(Math.abs(expires - (Date.now() + 86_400_000))).to.be.lessThan(60_000);
      expect((await getClient(database.db, client.client_id)).secrets.map((s) => s.state)).to.deep.equal(['active', 'expiring']);

      const rotated = (await audit(client.client_id)).at(-1);
      expect(rotated).to.deep.include({ action: 'client.secret_rotated', details: { overlap_seconds: 86_400, previous_secrets: 1 } });
      expect((await events(client.client_id)).at(-1)).to.deep.include({
        type: 'com.infranotes.iam.client.secret_rotated',
        data: { client_id: client.client_id },
      });

      // A second rotation does not extend the first secret's expiry; 0 revokes everything at once.
      const again = await rotateClientSecret(database.db, client.client_id, { overlapSeconds: 0 }, actor);
      expect(again.previous_secrets.map((p) => p.revoked_at !== null)).to.deep.equal([true, true]);
      expect((await getClient(database.db, client.client_id)).secrets.map((s) => s.state)).to.deep.equal(['active', 'revoked', 'revoked']);
      const stored = await everythingStored(database.db);
      for (const s of [first, r.secret, again.secret]) expect(stored).not.to.include(s);
    });

    it('refuses clients without a secret and bad overlaps', async () => {
      const { client } = await createClient(database.db, { ...web, token_endpoint_auth_method: 'none' }, actor);
      expect((await rejects(rotateClientSecret(database.db, client.client_id, {}, actor))).detail).to.match(/authenticates with none/);
      const conf = await createClient(database.db, web, actor);
      expect((await rejects(rotateClientSecret(database.db, conf.client.client_id, { overlapSeconds: -1 }, actor))).code).to.equal(
        'validation_failed',
      );
      expect((await rejects(rotateClientSecret(database.db, conf.client.client_id, { overlapSeconds: 31 * 86_400 }, actor))).code).to.equal(
        'validation_failed',
      );
    });
  });

  describe('delete', () => {
    it('removes the client and its secrets, with audit and outbox rows', async () => {
      const { client } = await createClient(database.db, web, actor);
      expect(await deleteClient(database.db, client.client_id, actor)).to.deep.equal({ client_id: client.client_id });
      expect(await database.db('oauth_clients').where({ client_id: client.client_id }).first()).to.equal(undefined);
      expect((await rejects(getClient(database.db, client.client_id))).code).to.equal('not_found');
      expect((await audit(client.client_id)).map((a) => a.action)).to.deep.equal(['client.created', 'client.deleted']);
      expect((await events(client.client_id)).map((e) => e.type)).to.deep.equal([
        'com.infranotes.iam.client.created',
        'com.infranotes.iam.client.deleted',
      ]);
      expect((await rejects(deleteClient(database.db, client.client_id, actor))).code).to.equal('not_found');
    });
  });

  it('lists with keyset paging', async () => {
    for (const id of ['beta-paged', 'Zed-paged', 'alpha-paged']) await createClient(database.db, { ...web, client_id: id }, actor);
    const all = await listClients(database.db, { limit: 1000 });
    expect(all.length).to.be.at.least(3);
    expect(all.map((c) => c.client_id)).to.deep.equal([...all.map((c) => c.client_id)].sort());
    const first = await listClients(database.db, { limit: 2 });
    const next = await listClients(database.db, { limit: 2, after: first.at(-1)?.client_id });
    expect([...first, ...next].map((c) => c.client_id)).to.deep.equal(all.slice(0, 4).map((c) => c.client_id));
    expect(await listClients(database.db, { tenantId: 'not-a-uuid' })).to.deep.equal([]);
  });
});
