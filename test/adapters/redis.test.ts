import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { errors } from 'oidc-provider';
import { RedisBackend, sha256 } from '../../adapters/index.ts';
import { services, testLogger } from '../support/services.ts';
import { dropRedisKeys, payloadFor, tokenValue } from './contract.ts';

describe('oidc adapter: redis specifics', () => {
  const prefix = `iam-test-adapters-${randomUUID()}:`;
  let backend: RedisBackend;
  let raw: Redis;
  before(async () => {
    backend = new RedisBackend({ url: services.redisUrl, keyPrefix: prefix, logger: testLogger });
    await backend.ready();
    raw = new Redis(services.redisUrl);
  });
  after(async () => {
    await dropRedisKeys(prefix);
    await backend.close();
    raw.disconnect();
  });

  it('keys items by sha256 of the id, with the TTL of expiresIn', async () => {
    const id = tokenValue();
    await backend.adapterFor('AccessToken').upsert(id, payloadFor('AccessToken', id), 90);
    const key = `${prefix}oidc:item:AccessToken:${sha256(id)}`;
    expect(await raw.exists(key)).to.equal(1);
    expect(await raw.pttl(key)).to.be.within(89_000, 90_000);
  });

  it('keeps the per-grant set alive as long as its longest-lived member, and prunes expired members', async () => {
    const grantId = `g-${randomUUID()}`;
    const gk = `${prefix}oidc:grant:AccessToken:${grantId}`;
    const at = backend.adapterFor('AccessToken');
    const put = async (ttl: number) => {
      const id = tokenValue();
      await at.upsert(id, payloadFor('AccessToken', id, { grantId }), ttl);
      return id;
    };
    await put(60);
    expect(await raw.pttl(gk)).to.be.within(59_000, 60_000);
    await put(120);
    expect(await raw.pttl(gk)).to.be.within(119_000, 120_000);
    await put(30);
    expect(await raw.pttl(gk)).to.be.within(119_000, 120_000);
    await put(1);
    await new Promise((r) => setTimeout(r, 1_100));
    await put(30);
    expect(await raw.zcard(gk)).to.equal(4);
    await at.revokeByGrantId(grantId);
    expect(await raw.exists(gk)).to.equal(0);
  });

  it('gives index keys the TTL of their item', async () => {
    const id = tokenValue();
    await backend.adapterFor('DeviceCode').upsert(id, payloadFor('DeviceCode', id, { userCode: 'ABCD-EFGH' }), 45);
    expect(await raw.pttl(`${prefix}oidc:usercode:DeviceCode:ABCD-EFGH`)).to.be.within(44_000, 45_000);
  });

  it('fails fast while Redis is unreachable (no queueing, no fallback: requests fail closed)', async () => {
    const down = new RedisBackend({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:', logger: testLogger, timeoutMs: 500 });
    try {
      const at = down.adapterFor('AuthorizationCode');
      const started = Date.now();
      for (const op of [() => at.find('x'), () => at.upsert('x', payloadFor('AuthorizationCode', 'x'), 60), () => at.consume('x')]) {
        const err = await op().then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err).to.be.instanceOf(Error);
        // An outage is a server error, never a verdict about the artefact.
        expect(err).to.not.be.instanceOf(errors.InvalidGrant);
      }
      expect(Date.now() - started).to.be.below(2_000);
      let readyErr: Error | undefined;
      await down.ready(300).catch((e: Error) => {
        readyErr = e;
      });
      expect(readyErr?.message).to.match(/not reachable/);
    } finally {
      await down.close();
    }
  });
});
