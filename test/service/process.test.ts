import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort, spawnProcess, waitFor } from '../support/process.ts';
import { serviceEnv } from '../support/service.ts';
import { portOpen } from '../support/services.ts';

describe('service process', function () {
  this.timeout(120_000);

  it('npm start brings the service up on the embedded default and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const pgPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'iam-embedded-'));
    const embeddedEnv = {
      IAM_DATA_DIR: dataDir,
      IAM_SERVER_HTTP_PORT: String(port),
      IAM_SERVER_HOST: '127.0.0.1',
      IAM_DATABASE_EMBEDDED_PORT: String(pgPort),
      IAM_DATABASE_URL: '',
      IAM_REDIS_URL: '',
      IAM_KAFKA_BROKERS: '',
      IAM_KEYS_KEK: '',
      IAM_CONFIG: '',
    };
    const p = spawnProcess('npm', ['start', '--silent'], embeddedEnv);
    try {
      const ready = await waitFor(`http://127.0.0.1:${port}/ready`, 200, 90_000);
      const report = (await ready.json()) as { checks: Record<string, { status: string; mode?: string }> };
      expect(report.checks.postgres).to.include({ status: 'up', mode: 'embedded' });
      expect(report.checks.redis).to.include({ status: 'up', mode: 'memory' });
      expect(report.checks.kafka).to.include({ status: 'disabled' });
      for (const path of ['/health', '/metrics', '/.well-known/openid-configuration', '/.well-known/jwks.json']) {
        expect((await fetch(`http://127.0.0.1:${port}${path}`)).status, path).to.equal(200);
      }
      // The CLI works against the same embedded cluster while the server runs, and leaves it running.
      const cli = spawnProcess(process.execPath, ['bin/iam.js', 'migrate', 'status', '--json'], embeddedEnv);
      expect((await cli.exited).code, cli.stderr()).to.equal(0);
      expect((JSON.parse(cli.stdout()) as { pending: string[] }).pending).to.deep.equal([]);
      expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).to.equal(200);
      // The newcomer is told what to do next, and warned about the development conveniences.
      expect(p.stdout() + p.stderr()).to.match(/in-process store/i);
      expect(p.stdout() + p.stderr()).to.match(/KEK/);
      expect(p.stdout()).to.match(/admin@example\.com \/ \S{24}/);
      expect(p.stdout()).to.match(/demo-web \/ \S{43}/);
    } finally {
      // What a terminal's Ctrl-C or a supervisor does: signal the whole group behind `npm start`.
      p.killGroup('SIGTERM');
    }
    await p.exited;
    await new Promise((r) => setTimeout(r, 500));
    expect(p.stdout(), p.stderr()).to.match(/shutdown complete/);
    expect(await portOpen(`127.0.0.1:${port}`)).to.equal(false);
    expect(await portOpen(`127.0.0.1:${pgPort}`), 'embedded PostgreSQL stopped').to.equal(false);
  });

  describe('against an external database', () => {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase({ migrate: false });
    });
    after(async () => {
      await database?.drop();
    });

    it('IAM_SERVER_HTTP_PORT moves the port', async () => {
      const port = await freePort();
      const p = spawnProcess(process.execPath, ['src/main.ts'], serviceEnv(database, { IAM_SERVER_HTTP_PORT: String(port) }));
      try {
        await waitFor(`http://127.0.0.1:${port}/health`);
      } finally {
        p.child.kill('SIGTERM');
      }
      expect((await p.exited).code).to.equal(0);
    });

    it('an invalid configuration value exits non-zero naming the key', async () => {
      const p = spawnProcess(process.execPath, ['src/main.ts'], serviceEnv(database, { IAM_SERVER_HTTP_PORT: 'eighty' }));
      const exit = await p.exited;
      expect(exit.code).to.equal(78);
      expect(p.stderr())
        .to.match(/server\.http_port/)
        .and.match(/IAM_SERVER_HTTP_PORT/);
    });

    it('SIGTERM during load: in-flight requests complete and the process exits 0 within the deadline', async () => {
      const port = await freePort();
      const p = spawnProcess(
        process.execPath,
        ['src/main.ts'],
        serviceEnv(database, { IAM_SERVER_HTTP_PORT: String(port), IAM_SERVER_SHUTDOWN_TIMEOUT_MS: '8000', IAM_LOG_LEVEL: 'info' }),
      );
      await waitFor(`http://127.0.0.1:${port}/ready`);

      // A request whose body is still arriving when the signal comes: it is in flight.
      const slow = new Promise<number>((ok, fail) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/permissions',
            headers: { 'content-type': 'application/json', 'content-length': 2 },
          },
          (res) => {
            res.resume();
            res.on('end', () => ok(res.statusCode ?? 0));
          },
        );
        req.on('error', fail);
        req.write('{');
        setTimeout(() => req.end('}'), 1500);
      });
      // Plus steady load on keep-alive connections.
      let completed = 0;
      let failedInFlight = 0;
      const load = (async () => {
        const until = Date.now() + 1200;
        while (Date.now() < until) {
          const batch = await Promise.allSettled(Array.from({ length: 8 }, () => fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)));
          for (const r of batch) {
            if (r.status === 'fulfilled') {
              completed++;
              if (r.value.status !== 200) failedInFlight++;
              await r.value.arrayBuffer();
            }
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      p.child.kill('SIGTERM');
      await load;
      const slowStatus = await slow;
      const exit = await p.exited;
      // The in-flight request got a real answer (401: no credentials), not a reset.
      expect(slowStatus).to.be.within(400, 499);
      expect(completed).to.be.greaterThan(0);
      expect(failedInFlight).to.equal(0);
      expect(exit.code, p.stderr()).to.equal(0);
      // Drained well before the deadline: nothing waited for idle keep-alive sockets.
      expect(exit.ms).to.be.lessThan(4000);
      expect(p.stdout()).to.match(/shutdown complete/);
    });
  });
});
