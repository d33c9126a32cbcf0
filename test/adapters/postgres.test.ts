import { expect } from 'chai';
import { type Backend, payloadFor, postgresBackend, tokenValue } from './contract.ts';

describe('oidc adapter: postgres specifics', () => {
  let b: Backend;
  before(async function () {
    this.timeout(60_000);
    b = await postgresBackend();
  });
  after(async () => {
    await b?.close();
  });

  const sql = (text: string, bindings: unknown[] = []) => b.sql?.(text, bindings) as Promise<{ rows: Record<string, unknown>[] }>;
  const count = async () => Number((await sql('select count(*)::int as n from oidc_models')).rows[0]?.n);

  it('keeps payloads holding U+0000 (which jsonb refuses) verbatim instead of failing', async () => {
    const sid = tokenValue();
    const payload = payloadFor('Session', sid, { uid: 'uid-nul', state: 'a\u0000b' } as Record<string, unknown>);
    await b.adapterFor('Session').upsert(sid, payload, 60);
    const found = (await b.adapterFor('Session').find(sid)) as Record<string, unknown>;
    expect(found.state).to.equal('a\u0000b');
    const byUid = b.adapterFor('Session').findByUid;
    expect(byUid).to.be.a('function');
    expect(((await byUid?.call(b.adapterFor('Session'), 'uid-nul')) as Record<string, unknown> | undefined)?.state).to.equal('a\u0000b');
  });

  it('fills the indexed columns and stores the hash as id', async () => {
    const id = tokenValue();
    await b.adapterFor('RefreshToken').upsert(id, payloadFor('RefreshToken', id, { grantId: 'g-cols', accountId: 'acct-9' }), 60);
    const sid = tokenValue();
    await b.adapterFor('Session').upsert(sid, payloadFor('Session', sid, { uid: 'uid-cols' }), 60);
    const rows = (
      await sql(
        "select model, id, grant_id, uid, account_id, expires_at > now() as live from oidc_models where model in ('RefreshToken','Session') and (grant_id = 'g-cols' or uid = 'uid-cols') order by model",
      )
    ).rows;
    expect(rows).to.have.length(2);
    expect(rows[0]).to.include({ model: 'RefreshToken', grant_id: 'g-cols', account_id: 'acct-9', uid: null, live: true });
    expect(rows[0]?.id).to.not.equal(id);
    expect(rows[0]?.id).to.have.length(43);
    expect(rows[1]).to.include({ model: 'Session', id: sid, uid: 'uid-cols' });
  });

  it('purgeExpired removes only rows expired more than 5 minutes ago, in batches', async () => {
    await sql('delete from oidc_models');
    const put = async (model: string, expiresIn: number | undefined) => {
      const id = tokenValue();
      await b.adapterFor(model).upsert(id, payloadFor(model, id), expiresIn);
      return id;
    };
    const old = await Promise.all(Array.from({ length: 12 }, () => put('RefreshToken', 60)));
    const recent = await put('Grant', 60);
    const live = await put('Session', 3600);
    const forever = await put('InitialAccessToken', undefined);
    await sql(`update oidc_models set expires_at = now() - interval '10 minutes' where expires_at is not null and model = 'RefreshToken'`);
    await sql(`update oidc_models set expires_at = now() - interval '1 minute' where model = 'Grant'`);
    expect(await count()).to.equal(15);

    expect(await b.purgeExpired?.({ batchSize: 5 })).to.equal(12);
    expect(await count()).to.equal(3);
    for (const id of old) expect(await b.adapterFor('RefreshToken').find(id)).to.equal(undefined);
    expect(await b.adapterFor('Grant').find(recent)).to.equal(undefined); // expired, so absent, but kept until the grace passes
    expect(await b.adapterFor('Session').find(live)).to.not.equal(undefined);
    expect(await b.adapterFor('InitialAccessToken').find(forever)).to.not.equal(undefined);
    expect(await b.purgeExpired?.()).to.equal(0);
  });

  it('an expired row cannot be consumed, and a new item under an expired id starts unconsumed', async () => {
    const id = tokenValue();
    await b.adapterFor('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 60);
    await b.adapterFor('RefreshToken').consume(id);
    await sql(`update oidc_models set expires_at = now() - interval '1 second' where model = 'RefreshToken'`);
    await b
      .adapterFor('RefreshToken')
      .consume(id)
      .then(
        () => expect.fail('expired rows are not consumable'),
        (err: Error) => expect(err.name).to.equal('InvalidGrant'),
      );
    await b.adapterFor('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 60);
    expect((await b.adapterFor('RefreshToken').find(id))?.consumed).to.equal(undefined);
  });
});
