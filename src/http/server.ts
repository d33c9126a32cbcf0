import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

export interface HttpServer {
  server: Server;
  port: number;
  /**
   * Stops accepting connections and waits for in-flight requests up to the deadline;
   * whatever is still open then is cut. Resolves with whether everything drained.
   */
  close(deadlineMs: number): Promise<{ drained: boolean; inFlight: number }>;
}

export async function listen(app: Koa, host: string, port: number): Promise<HttpServer> {
  let draining = false;
  let inFlight = 0;
  const handle = app.callback();
  const server = createServer((req, res) => {
    inFlight++;
    // Keep-alive clients must learn to reconnect elsewhere once we drain.
    if (draining) res.setHeader('Connection', 'close');
    res.once('close', () => inFlight--);
    handle(req, res);
  });
  // Slightly above typical load-balancer idle timeouts, so the LB closes first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });

  return {
    server,
    port: (server.address() as AddressInfo).port,
    close(deadlineMs) {
      draining = true;
      return new Promise((ok) => {
        // Keep-alive sockets that finish their last request after close() stay open until
        // their idle timeout; sweep them so the drain ends as soon as the work does.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const timer = setTimeout(() => {
          clearInterval(sweep);
          const left = inFlight;
          server.closeAllConnections();
          ok({ drained: false, inFlight: left });
        }, deadlineMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(timer);
          ok({ drained: true, inFlight: 0 });
        });
        server.closeIdleConnections();
      });
    },
  };
}
