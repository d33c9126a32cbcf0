import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from 'jose';
import { createCallerAuthenticator } from '../../src/authz/caller-auth.ts';
import { AppError } from '../../src/errors/index.ts';

const ISSUER = 'https://iam.test';
const AUDIENCE = 'https://iam.test/v1';

describe('authz caller authenticator (verified-token cache)', () => {
  let jwks: JSONWebKeySet;
  let sign: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>;
  before(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] };
    sign = (claims, header = {}) =>
      new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'u1', sub_type: 'user', tid: 't1', jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
  });

  const make = (revoked: Set<string> = new Set(), ttlMs = 60_000, keys = () => jwks) => {
    const calls: string[] = [];
    const auth = createCallerAuthenticator({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwks: keys,
      ttlMs,
      isRevoked: async (t) => {
        calls.push(t.jti);
        return revoked.has(t.jti) || (t.grantId !== undefined && revoked.has(t.grantId));
      },
    });
    return { auth, calls };
  };
  const rejects = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(AppError);
      expect(err).to.include({ code: 'unauthorized' });
      return;
    }
    expect.fail('expected unauthorized');
  };

  it('maps the claims and consults revocation once per token while cached', async () => {
    const { auth, calls } = make();
    const token = await sign({ client_id: 'app', cnf: { 'x5t#S256': 'thumb' } });
    const caller = await auth.authenticate(token);
    expect(caller).to.deep.equal({ sub: 'u1', subType: 'user', tenantId: 't1', clientId: 'app', certThumbprint: 'thumb' });
    expect(await auth.authenticate(token)).to.equal(caller);
    expect(calls).to.have.length(1);
    const workload = await auth.authenticate(await sign({ sub_type: 'workload', tid: undefined }));
    expect(workload).to.deep.equal({ sub: 'u1', subType: 'workload' });
  });

  it('a token that ends like a cached one is verified on its own, never served from the other entry', async () => {
    const { auth, calls } = make();
    const good = await sign({ sub: 'u1' });
    await auth.authenticate(good);
    // Same last 32 characters (signature tail), different claims: the cache must not answer for it.
    const other = await sign({ sub: 'u2' });
    const [, , signature] = good.split('.') as [string, string, string];
    const forged = `${other.split('.').slice(0, 2).join('.')}.${signature}`;
    expect(forged.slice(-32)).to.equal(good.slice(-32));
    await rejects(auth.authenticate(forged));
    // The genuine token is still served from its entry, unchanged.
    expect((await auth.authenticate(good)).sub).to.equal('u1');
    expect(calls).to.have.length(1);
  });

  it('refuses bad tokens: other issuer, audience or typ, garbage, revoked token or grant', async () => {
    const revokedJti = randomUUID();
    const { auth } = make(new Set([revokedJti, 'grant-x']));
    await rejects(auth.authenticate(await sign({ iss: 'https://other' })));
    await rejects(auth.authenticate(await sign({ aud: 'https://other/v1' })));
    await rejects(auth.authenticate(await sign({}, { typ: 'JWT' })));
    await rejects(auth.authenticate('not.a.jwt'));
    await rejects(auth.authenticate(await sign({ jti: revokedJti })));
    await rejects(auth.authenticate(await sign({ grant_id: 'grant-x' })));
  });

  it('a revocation evicts the token (by jti or by grant); clear() forgets all', async () => {
    const revoked = new Set<string>();
    const { auth, calls } = make(revoked);
    const jti = randomUUID();
    const byJti = await sign({ jti });
    const byGrant = await sign({ grant_id: 'g1' });
    await auth.authenticate(byJti);
    await auth.authenticate(byGrant);
    revoked.add(jti);
    revoked.add('g1');
    // Still cached until told.
    await auth.authenticate(byJti);
    auth.revokeJti(jti);
    await rejects(auth.authenticate(byJti));
    await auth.authenticate(byGrant);
    auth.revokeGrant('g1');
    await rejects(auth.authenticate(byGrant));
    const other = await sign({});
    await auth.authenticate(other);
    const before = calls.length;
    auth.clear();
    await auth.authenticate(other);
    expect(calls.length).to.equal(before + 1);
  });

  it('does not keep a verification that raced with a revocation', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const auth = createCallerAuthenticator({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwks: () => jwks,
      ttlMs: 60_000,
      isRevoked: async () => {
        calls++;
        if (calls === 1) await gate;
        return false;
      },
    });
    const token = await sign({});
    const pending = auth.authenticate(token);
    await new Promise((r) => setTimeout(r, 10));
    auth.revokeGrant('unrelated');
    release();
    await pending;
    await auth.authenticate(token);
    expect(calls).to.equal(2);
  });

  it('drops everything when the key set changes, and does not cache with ttl 0', async () => {
    let current = jwks;
    const { auth, calls } = make(new Set(), 60_000, () => current);
    const token = await sign({});
    await auth.authenticate(token);
    current = { keys: [...jwks.keys] };
    await auth.authenticate(token);
    expect(calls).to.have.length(2);
    current = { keys: [] };
    await rejects(auth.authenticate(token));
    const uncached = make(new Set(), 0);
    await uncached.auth.authenticate(token);
    await uncached.auth.authenticate(token);
    expect(uncached.calls).to.have.length(2);
  });
});
