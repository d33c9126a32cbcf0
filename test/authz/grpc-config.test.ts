import { expect } from 'chai';
import { configSchema } from '../../src/config/schema.ts';

describe('grpc configuration', () => {
  const parse = (grpc: Record<string, unknown>) => configSchema.safeParse({ grpc });

  it('defaults to a loopback plaintext listener, port chosen at start', () => {
    const r = configSchema.parse({});
    expect(r.grpc).to.deep.include({ enabled: true, host: '127.0.0.1' });
    expect(r.grpc.port).to.equal(undefined);
    expect(r.authz).to.deep.equal({ cache_ttl_s: 60, cache_max_entries: 10_000 });
  });

  it('refuses plaintext off loopback, and a partial TLS configuration', () => {
    expect(parse({ host: '0.0.0.0' }).success).to.equal(false);
    expect(parse({ host: '0.0.0.0', tls_cert_file: '/c.pem' }).success).to.equal(false);
    expect(parse({ tls_cert_file: '/c.pem', tls_key_file: '/k.pem' }).success).to.equal(false);
    expect(parse({ host: '0.0.0.0', tls_cert_file: '/c.pem', tls_key_file: '/k.pem', tls_client_ca_file: '/ca.pem' }).success).to.equal(
      true,
    );
    expect(parse({ host: '::1', tls_cert_file: '' }).success).to.equal(true);
    expect(parse({ port: 70_000 }).success).to.equal(false);
  });
});
