import { hkdfSync } from 'node:crypto';
import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.ts';
import { deriveCookieKeys, deriveDpopNonceSecret } from '../../src/oidc/cookie-keys.ts';
import { issuerPath } from '../../src/oidc/mount.ts';
import { scopesFor } from '../../src/oidc/resources.ts';
import {
  activeResponse,
  createIntrospectionCache,
  mayLearnAbout,
  parseAccessTokenClaims,
  revocationDecision,
} from '../../src/tokens/index.ts';
import { schemaErrors } from './support.ts';

const KEK = Buffer.alloc(32, 7);

describe('oidc: shared secrets derived from the KEK', () => {
  it('cookie keys: version 1 is the foundation’s derivation; versions are independent; order is kept', () => {
    const legacy = Buffer.from(hkdfSync('sha256', KEK, Buffer.alloc(0), 'iam/cookie-keys/v1', 32)).toString('base64url');
    expect(deriveCookieKeys(KEK)).to.deep.equal([legacy]);
    const [v2, v1] = deriveCookieKeys(KEK, [2, 1]);
    expect(v1).to.equal(legacy);
    expect(v2).to.not.equal(v1);
    expect(deriveCookieKeys(Buffer.alloc(32, 8), [1])[0]).to.not.equal(legacy);
    expect(() => deriveCookieKeys(KEK, [])).to.throw();
  });

  it('the DPoP nonce secret is 32 bytes, stable, and unrelated to the cookie keys', () => {
    const a = deriveDpopNonceSecret(KEK);
    expect(a).to.have.length(32);
    expect(deriveDpopNonceSecret(KEK).equals(a)).to.equal(true);
    expect(deriveCookieKeys(KEK)).to.not.include(a.toString('base64url'));
  });

  it('config: cookie key versions from env, refresh lifetimes checked against each other', () => {
    const base = { IAM_ENV: 'test' };
    expect(loadConfig({ env: { ...base, IAM_OIDC_COOKIE_KEY_VERSIONS: '2,1' } }).config.oidc.cookie_key_versions).to.deep.equal([2, 1]);
    expect(() => loadConfig({ env: { ...base, IAM_OIDC_COOKIE_KEY_VERSIONS: '1,1' } })).to.throw(/cookie_key_versions/);
    expect(() => loadConfig({ env: { ...base, IAM_OIDC_REFRESH_TOKEN_IDLE_TTL_S: '999999999' } })).to.throw(/refresh_token_idle_ttl_s/);
    expect(() => loadConfig({ env: { ...base, IAM_OIDC_REFRESH_TOKEN_ABSOLUTE_TTL_S: '8000000' } })).to.throw(
      /refresh_token_absolute_ttl_s/,
    );
  });
});

describe('oidc: resource policy and mounting helpers', () => {
  it('scopes split by owner: iam.* only for IAM’s API, OIDC scopes never in an access token', () => {
    const allowed = ['openid', 'offline_access', 'profile', 'iam.tokens.introspect', 'orders.read'];
    expect(scopesFor(allowed, 'https://id.example/v1', 'https://id.example/v1')).to.deep.equal(['iam.tokens.introspect']);
    expect(scopesFor(allowed, 'https://orders.example', 'https://id.example/v1')).to.deep.equal(['orders.read']);
  });

  it('issuer path', () => {
    expect(issuerPath('https://id.example.com')).to.equal('');
    expect(issuerPath('https://id.example.com/')).to.equal('');
    expect(issuerPath('https://id.example.com/oidc/')).to.equal('/oidc');
  });
});

describe('tokens: introspection decisions and cache', () => {
  const claims = {
    iss: 'https://id.example',
    sub: 'c1',
    aud: 'https://orders.example',
    exp: Math.floor(Date.now() / 1000) + 600,
    iat: Math.floor(Date.now() / 1000),
    jti: 'j1',
    client_id: 'c1',
    sub_type: 'workload',
    scope: 'orders.read',
  };

  it('parses only well-typed claims', () => {
    expect(parseAccessTokenClaims(claims)).to.not.equal(undefined);
    expect(parseAccessTokenClaims({ ...claims, jti: 5 })).to.equal(undefined);
    expect(parseAccessTokenClaims({ ...claims, sub_type: 'robot' })).to.equal(undefined);
    expect(parseAccessTokenClaims({ ...claims, aud: [] })).to.equal(undefined);
    expect(parseAccessTokenClaims({ ...claims, cnf: 'x' })).to.equal(undefined);
  });

  it('active responses have the RFC 7662 members and token_type', () => {
    const c = parseAccessTokenClaims({ ...claims, cnf: { jkt: 'k'.repeat(43) } });
    expect(activeResponse(c as never)).to.include({ active: true, token_type: 'DPoP', jti: 'j1', sub_type: 'workload' });
  });

  it('tenant isolation and revocation ownership', () => {
    const platform = { clientId: 'rs', tenantId: null, allowedScopes: [], isPublic: false };
    const tenant = { ...platform, tenantId: 't1' };
    expect(mayLearnAbout(platform, 't2')).to.equal(true);
    expect(mayLearnAbout(tenant, 't1')).to.equal(true);
    expect(mayLearnAbout(tenant, 't2')).to.equal(false);
    expect(mayLearnAbout(tenant, undefined)).to.equal(false);
    expect(revocationDecision({ ...platform, clientId: 'c1' }, claims)).to.equal('revoke');
    expect(revocationDecision(platform, claims)).to.equal('refuse');
    expect(revocationDecision({ ...platform, isPublic: true }, claims)).to.equal('ignore');
  });

  it('the cache never outlives a revocation and refuses to re-learn a revoked token', () => {
    let now = 1_000_000;
    const cache = createIntrospectionCache({ ttlMs: 5_000, now: () => now });
    const r = { active: true as const, jti: 'j1' };
    const exp = (now + 600_000) / 1000;
    cache.set('j1', 'g1', r, exp);
    cache.set('j2', 'g1', { active: true, jti: 'j2' }, exp);
    cache.set('j3', undefined, { active: true, jti: 'j3' }, exp);
    expect(cache.get('j1')).to.equal(r);
    cache.revokeGrant('g1');
    expect(cache.get('j1')).to.equal(undefined);
    expect(cache.get('j2')).to.equal(undefined);
    expect(cache.get('j3')).to.not.equal(undefined);
    // A read that started before the revocation must not put the token back.
    cache.set('j1', 'g1', r, exp);
    expect(cache.get('j1')).to.equal(undefined);
    cache.revokeJti('j3');
    cache.set('j3', undefined, { active: true, jti: 'j3' }, exp);
    expect(cache.get('j3')).to.equal(undefined);
    // Entries expire with the TTL or the token, whichever comes first.
    cache.set('j4', undefined, { active: true, jti: 'j4' }, exp);
    now += 5_001;
    expect(cache.get('j4')).to.equal(undefined);
    cache.set('j5', undefined, { active: true, jti: 'j5' }, (now + 1_000) / 1000);
    now += 1_001;
    expect(cache.get('j5')).to.equal(undefined);
    // Disabled cache stores nothing.
    const off = createIntrospectionCache({ ttlMs: 0 });
    off.set('j', undefined, r, exp);
    expect(off.get('j')).to.equal(undefined);
  });

  it('the test validator rejects what the contract forbids', () => {
    const header = { alg: 'ES256', typ: 'at+jwt', kid: 'a'.repeat(43) };
    const ok = { header, payload: claims };
    expect(schemaErrors({ $ref: '#/$defs/accessToken' }, ok)).to.deep.equal([]);
    expect(schemaErrors({ $ref: '#/$defs/accessToken' }, { header: { ...header, alg: 'EdDSA' }, payload: claims })).to.not.deep.equal([]);
    expect(schemaErrors({ $ref: '#/$defs/accessToken' }, { header, payload: { ...claims, acr: 'x' } })).to.not.deep.equal([]);
    expect(schemaErrors({ $ref: '#/$defs/accessToken' }, { header, payload: { ...claims, extra: 1 } })).to.not.deep.equal([]);
    expect(schemaErrors({ $ref: '#/$defs/accessToken' }, { header, payload: { ...claims, tid: 'nope' } })).to.not.deep.equal([]);
    const { jti: _j, ...noJti } = claims;
    expect(schemaErrors({ $ref: '#/$defs/accessToken' }, { header, payload: noJti })).to.not.deep.equal([]);
  });
});
