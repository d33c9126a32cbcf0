import { Writable } from 'node:stream';
import { expect } from 'chai';
import { requestContext } from '../../src/observability/context.ts';
import { createLogger } from '../../src/observability/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination: stream }) };
}

describe('logger', () => {
  it('censors credentials wherever they appear', async () => {
    const { lines, logger } = capture();
    logger.info(
      {
        password: 'hunter2',
        body: { client_secret: 'cs-123', refresh_token: 'rt-456', code: 'ac-789' },
        err: { code: '23505' },
        req: { headers: { authorization: 'Bearer abc', cookie: '_session=xyz' } },
        config: { keys: { kek: 'kek-value' }, database: { url: 'postgres://u:pw@db/iam' } },
      },
      'login attempt',
    );
    logger.flush();
    await new Promise((r) => setTimeout(r, 20));
    const text = JSON.stringify(lines);
    for (const secret of ['hunter2', 'cs-123', 'rt-456', 'ac-789', 'Bearer abc', '_session=xyz', 'kek-value', 'u:pw@db']) {
      expect(text, secret).not.to.include(secret);
    }
    expect(text).to.include('[redacted]');
    // Error codes are diagnostics, not secrets.
    expect(text).to.include('23505');
  });

  it('adds request id, trace id and tenant id from the request context', async () => {
    const { lines, logger } = capture();
    requestContext.run({ requestId: 'req-1', traceId: 'a'.repeat(32), tenantId: 't-1' }, () => logger.info('inside'));
    logger.info('outside');
    logger.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(lines[0]).to.include({ request_id: 'req-1', trace_id: 'a'.repeat(32), tenant_id: 't-1', msg: 'inside' });
    expect(lines[1]).not.to.have.property('request_id');
  });
});
