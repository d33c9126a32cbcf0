import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startTestService, type TestService } from '../support/service.ts';

interface Jwks {
  keys: { kid: string; alg: string }[];
}

async function kids(url: string): Promise<string[]> {
  const res = await fetch(`${url}/.well-known/jwks.json`);
  return ((await res.json()) as Jwks).keys.map((k) => k.kid).sort();
}

async function eventually(fn: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe('two instances on one database', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let a: TestService;
  let b: TestService;

  before(async () => {
    database = await createTestDatabase({ migrate: false });
    // A refresh interval of an hour: anything B learns quickly, it learns from the NOTIFY.
    const env = { IAM_KEYS_REFRESH_INTERVAL_S: '3600', IAM_KEYS_PUBLISH_LEAD_S: '3600' };
    [a, b] = await Promise.all([startTestService(env, database), startTestService(env, database)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  it('both started on the same bootstrapped key set', async () => {
    expect(await kids(a.url)).to.deep.equal(await kids(b.url));
    expect(await kids(a.url)).to.have.length(2);
  });

  it('a rotation on one instance is published by the other without restart, before it signs', async () => {
    const before = await kids(b.url);
    const signingBefore = b.service.keys.activeSigner('access').kid;
    const [change] = await a.service.keys.rotate('access');
    expect(change).to.include({ to: 'pending', purpose: 'access' });
    await eventually(async () => (await kids(b.url)).includes(change?.kid as string));
    expect((await kids(b.url)).length).to.equal(before.length + 1);
    // Published, but not signing yet on either instance.
    expect(b.service.keys.activeSigner('access').kid).to.equal(signingBefore);
    expect(a.service.keys.activeSigner('access').kid).to.equal(signingBefore);
  });

  it('an emergency revoke removes the key from both instances at once and a successor signs', async () => {
    const victim = a.service.keys.activeSigner('access').kid;
    await b.service.keys.revoke(victim, 'test: key compromise drill');
    await eventually(async () => !(await kids(a.url)).includes(victim));
    expect(await kids(b.url)).not.to.include(victim);
    expect(a.service.keys.activeSigner('access').kid).not.to.equal(victim);
    expect(a.service.keys.activeSigner('access').kid).to.equal(b.service.keys.activeSigner('access').kid);
    const events = await database.db('outbox_events').where({ type: 'com.infranotes.iam.key.revoked' }).select('data');
    expect(events.map((e) => e.data.kid)).to.include(victim);
    const audit = await database.db('audit_events').where({ action: 'key.revoked', target_id: victim }).first();
    expect(audit).to.not.equal(undefined);
  });
});
