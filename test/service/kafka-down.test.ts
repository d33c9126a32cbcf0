import { expect } from 'chai';
import { freePort } from '../support/process.ts';
import { startTestService, type TestService } from '../support/service.ts';

describe('service with its Kafka brokers unreachable', function () {
  this.timeout(60_000);
  let t: TestService;

  before(async () => {
    // A port nothing listens on: the broker is "down" from the first moment.
    t = await startTestService({ IAM_KAFKA_BROKERS: `127.0.0.1:${await freePort()}`, IAM_OUTBOX_POLL_INTERVAL_MS: '50' });
  });
  after(async () => {
    await t?.stop();
  });

  it('stays ready for auth traffic and reports the relay down and the backlog in /ready and /metrics', async () => {
    const res = await fetch(`${t.url}/ready`);
    const body = (await res.json()) as { status: string; checks: { kafka: Record<string, unknown> } };
    expect(res.status).to.equal(200);
    expect(body.status).to.equal('ready');
    expect(body.checks.kafka).to.include({ status: 'down', required: false, mode: 'kafka', connected: false });
    // The key bootstrap wrote events that cannot leave: the backlog is visible.
    const pending = await t.service.db('outbox_events').where({ status: 'pending' }).count<{ count: string }[]>('* as count');
    expect(Number(pending[0]?.count)).to.be.greaterThan(0);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).to.match(new RegExp(`^iam_outbox_pending ${pending[0]?.count}$`, 'm'));
    expect(metrics).to.match(/^iam_dependency_up\{dependency="kafka"\} 0$/m);
    expect((await fetch(`${t.url}/.well-known/openid-configuration`)).status).to.equal(200);
  });
});
