import { expect } from 'chai';
import { AppError } from '../../src/errors/index.ts';
import {
  countPasskeys,
  listPasskeys,
  MAX_CREDENTIALS_PER_USER,
  removeAllPasskeys,
  removePasskey,
  renamePasskey,
  sanitizeCredentialName,
} from '../../src/webauthn/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { auditRows, authenticator, insertUser, type Rig, register, rig } from './support.ts';

describe('webauthn: passkey management', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let r: Rig;
  const db = () => database.db;

  before(async () => {
    database = await createTestDatabase();
    r = rig();
  });
  after(async () => {
    await r?.store.close();
    await database?.drop();
  });

  it('sanitizes names: one line, no control, zero-width or bidi characters, 64 code points', () => {
    expect(sanitizeCredentialName('  Work\tlaptop \n')).to.equal('Work laptop');
    expect(sanitizeCredentialName('evil\u202egnp.exe')).to.equal('evilgnp.exe');
    expect(sanitizeCredentialName('a\u0000b\u200bc\u2028d')).to.equal('abc d');
    expect(sanitizeCredentialName('🔑'.repeat(100))).to.equal('🔑'.repeat(64));
    expect(sanitizeCredentialName('e\u0301')).to.equal('\u00e9');
    expect(sanitizeCredentialName(' \u200b ')).to.equal(null);
    expect(sanitizeCredentialName(42)).to.equal(null);
    expect(sanitizeCredentialName(undefined)).to.equal(null);
  });

  it('lists, renames and removes only the user’s own passkeys, auditing each change', async () => {
    const alice = await insertUser(db());
    const bob = await insertUser(db());
    const a1 = await register(r, db(), alice, authenticator(), { name: 'Laptop' });
    const a2 = await register(r, db(), alice, authenticator({ backupEligible: true, backedUp: true, transports: ['internal', 'hybrid'] }));
    const b1 = await register(r, db(), bob, authenticator(), { name: 'Bob key' });

    const list = await listPasskeys(db(), alice);
    expect(list.map((p) => p.id)).to.deep.equal([a1, a2]);
    expect(list[0]).to.include({ name: 'Laptop', backupEligible: false, backedUp: false, deviceType: 'singleDevice', lastUsedAt: null });
    expect(list[0]?.createdAt).to.be.instanceOf(Date);
    expect(list[1]).to.include({ name: null, backupEligible: true, backedUp: true, deviceType: 'multiDevice' });
    expect(list[1]?.transports).to.deep.equal(['hybrid', 'internal']);
    expect(Object.keys(list[0] ?? {})).not.to.include.members(['publicKey', 'public_key', 'credential_id']);
    expect(await countPasskeys(db(), alice)).to.equal(2);
    expect(await listPasskeys(db(), 'not-a-uuid')).to.deep.equal([]);
    expect(await countPasskeys(db(), 'not-a-uuid')).to.equal(0);

    // Rename.
    expect(await renamePasskey(db(), { userId: alice, credentialId: a2, name: ' Phone\u202e ' })).to.equal(true);
    expect((await listPasskeys(db(), alice))[1]?.name).to.equal('Phone');
    expect(await renamePasskey(db(), { userId: alice, credentialId: b1, name: 'mine now' })).to.equal(false);
    expect(await renamePasskey(db(), { userId: alice, credentialId: 'x', name: 'mine now' })).to.equal(false);
    expect((await listPasskeys(db(), bob))[0]?.name).to.equal('Bob key');
    const err = await renamePasskey(db(), { userId: alice, credentialId: a1, name: '\u200b' }).catch((e) => e);
    expect(err).to.be.instanceOf(AppError).with.property('code', 'validation_failed');
    const renames = await auditRows(db(), 'mfa.webauthn.renamed', alice);
    expect(renames.map((a) => [a.outcome, a.details.reason ?? null])).to.deep.equal([
      ['success', null],
      ['failure', 'not_found'],
      ['failure', 'not_found'],
    ]);

    // Remove: never another user's credential.
    expect(await removePasskey(db(), { userId: alice, credentialId: b1 })).to.equal(false);
    expect(await countPasskeys(db(), bob)).to.equal(1);
    expect(await removePasskey(db(), { userId: alice, credentialId: a1 }, { ip: '198.51.100.1', requestId: 'r-1' })).to.equal(true);
    expect(await removePasskey(db(), { userId: alice, credentialId: a1 })).to.equal(false);
    expect((await listPasskeys(db(), alice)).map((p) => p.id)).to.deep.equal([a2]);
    const removals = await auditRows(db(), 'mfa.webauthn.removed', alice);
    expect(removals.map((a) => a.outcome)).to.deep.equal(['failure', 'success', 'failure']);
    expect(removals[0]?.details).to.include({ reason: 'not_found', credential_id: b1 });
    expect(removals[1]?.details).to.deep.equal({ credential_ids: [a1] });
    // A removed passkey no longer signs in.
    expect(await db()('webauthn_credentials').where({ id: a1 }).first()).to.equal(undefined);

    // An administrator's reset removes all, audited with the administrator as actor.
    const admin = { type: 'user' as const, id: bob };
    expect(await removeAllPasskeys(db(), alice, { actor: admin })).to.equal(1);
    expect(await removeAllPasskeys(db(), alice, { actor: admin })).to.equal(0);
    expect(await removeAllPasskeys(db(), 'nope')).to.equal(0);
    const [reset] = (await auditRows(db(), 'mfa.webauthn.removed', alice)).slice(-1);
    expect(reset).to.deep.include({ outcome: 'success', actor_id: bob, target_id: alice });
    expect(await removePasskey(db(), { userId: 'nope', credentialId: a2 })).to.equal(false);
  });

  it('a removed credential cannot sign in', async () => {
    const userId = await insertUser(db());
    const auth = authenticator();
    const id = await register(r, db(), userId, auth);
    expect(await removePasskey(db(), { userId, credentialId: id })).to.equal(true);
    const start = await r.passkeys.startAuthentication(db(), r.store);
    const res = await r.passkeys.finishAuthentication(db(), r.store, {
      challengeHandle: start.challengeHandle,
      response: auth.get(start.options),
      requireUserVerification: true,
    });
    expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
  });

  it(`refuses more than ${MAX_CREDENTIALS_PER_USER} passkeys per user`, async () => {
    const userId = await insertUser(db());
    const rows = Array.from({ length: MAX_CREDENTIALS_PER_USER }, (_, i) => ({
      user_id: userId,
      credential_id: Buffer.alloc(16, i + 1),
      public_key: Buffer.alloc(77, 1),
    }));
    await db()('webauthn_credentials').insert(rows);
    const err = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'many@example.test' }).catch((e) => e);
    expect(err).to.be.instanceOf(AppError).with.property('code', 'conflict');
  });

  it('a limit reached between start and finish is enforced at finish', async () => {
    const userId = await insertUser(db());
    const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'race@example.test' });
    await db()('webauthn_credentials').insert(
      Array.from({ length: MAX_CREDENTIALS_PER_USER }, (_, i) => ({
        user_id: userId,
        credential_id: Buffer.alloc(16, 100 + i),
        public_key: Buffer.alloc(77, 1),
      })),
    );
    const res = await r.passkeys.finishRegistration(db(), r.store, { userId, response: authenticator().create(o) });
    expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
    expect((await auditRows(db(), 'mfa.webauthn.registered', userId))[0]?.details.reason).to.equal('too_many_credentials');
  });
});
