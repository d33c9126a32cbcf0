import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { purgePendingSignUps, SIGN_UP_VERIFICATION_TTL_S } from '../../src/identity/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/** Unverified self sign-ups are deleted once their verification window has passed (issue 4). */
describe('identity: purge of unverified sign-ups', function () {
  this.timeout(60_000);
  let t: TestDatabase;

  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => {
    await t?.drop();
  });

  async function user(opts: { pending: boolean; ageSeconds: number; status?: 'active' | 'disabled' }): Promise<string> {
    const [row] = await t
      .db('users')
      .insert({
        email: `signup-${randomBytes(4).toString('hex')}@example.test`,
        status: opts.status ?? (opts.pending ? 'disabled' : 'active'),
        ...((opts.status ?? (opts.pending ? 'disabled' : 'active')) === 'disabled' ? { disabled_at: t.db.fn.now() } : {}),
        profile: JSON.stringify(opts.pending ? { signup: 'pending' } : {}),
        created_at: t.db.raw('now() - make_interval(secs => ?)', [opts.ageSeconds]),
      })
      .returning('id');
    await t.db('password_credentials').insert({ user_id: row.id, password_hash: '$argon2id$v=19$m=19456,t=2,p=1$x$y', params: '{}' });
    return row.id as string;
  }

  async function token(userId: string, purpose: string, expiresInSeconds: number, consumed = false) {
    await t.db('one_time_tokens').insert({
      purpose,
      token_hash: randomBytes(32),
      user_id: userId,
      email: 'x@example.test',
      created_at: t.db.raw("now() - interval '2 days'"),
      expires_at: t.db.raw('now() + make_interval(secs => ?)', [expiresInSeconds]),
      ...(consumed ? { consumed_at: t.db.fn.now() } : {}),
    });
  }

  const exists = async (id: string) => (await t.db('users').where({ id }).first('id')) !== undefined;

  it('deletes pending accounts past the window, keeps the rest, and audits each deletion', async () => {
    const old = SIGN_UP_VERIFICATION_TTL_S + 60;
    const expired = await user({ pending: true, ageSeconds: old });
    await token(expired, 'email_verification', -3_600);
    const fresh = await user({ pending: true, ageSeconds: 60 });
    const resetting = await user({ pending: true, ageSeconds: old });
    await token(resetting, 'password_reset', 600);
    const active = await user({ pending: false, ageSeconds: old });
    const disabledByAdmin = await user({ pending: false, ageSeconds: old, status: 'disabled' });

    const result = await purgePendingSignUps(t.db);
    expect(result).to.deep.equal({ ran: true, purged: 1 });
    expect(await exists(expired)).to.equal(false);
    expect(await t.db('password_credentials').where({ user_id: expired }).first()).to.equal(undefined);
    expect(await t.db('one_time_tokens').where({ user_id: expired }).first()).to.equal(undefined);
    for (const kept of [fresh, resetting, active, disabledByAdmin]) expect(await exists(kept), kept).to.equal(true);

    const [audit] = await t.db('audit_events').where({ action: 'user.signup_expired', target_id: expired });
    expect(audit).to.deep.include({ actor_type: 'system', actor_id: 'sign-up-purge', outcome: 'success' });
    expect(audit.details.window_s).to.equal(SIGN_UP_VERIFICATION_TTL_S);

    expect(await purgePendingSignUps(t.db)).to.deep.equal({ ran: true, purged: 0 });
  });

  it('one instance at a time: a run skips while another holds the lock; concurrent runs delete and audit each account once', async () => {
    const { lockId } = await import('../../src/db/locks.ts');
    const held = await t.db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?::bigint)', [lockId('iam:purge-pending-sign-ups')]);
      return purgePendingSignUps(t.db);
    });
    expect(held).to.deep.equal({ ran: false, purged: 0 });

    const ids = await Promise.all(Array.from({ length: 5 }, () => user({ pending: true, ageSeconds: SIGN_UP_VERIFICATION_TTL_S + 60 })));
    const runs = await Promise.all([purgePendingSignUps(t.db), purgePendingSignUps(t.db), purgePendingSignUps(t.db)]);
    expect(runs.reduce((n, r) => n + r.purged, 0)).to.equal(5);
    for (const id of ids) expect(await exists(id)).to.equal(false);
    const audits = await t.db('audit_events').where({ action: 'user.signup_expired' }).whereIn('target_id', ids);
    expect(audits).to.have.length(5);
  });

  it('works in batches', async () => {
    await Promise.all(Array.from({ length: 3 }, () => user({ pending: true, ageSeconds: SIGN_UP_VERIFICATION_TTL_S + 60 })));
    expect((await purgePendingSignUps(t.db, { batch: 2 })).purged).to.equal(2);
    expect((await purgePendingSignUps(t.db, { batch: 2 })).purged).to.equal(1);
  });
});
