import { tmpdir } from 'node:os';
import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import { createRelyingParty, DEFAULT_RP_NAME, relyingPartyFromConfig } from '../../src/webauthn/index.ts';

describe('webauthn: relying party from the issuer', () => {
  it('takes the RP ID from the issuer host and the expected origin from the issuer origin', () => {
    const rp = createRelyingParty({ issuer: 'https://ID.Example.com/oidc' });
    expect(rp).to.deep.include({ rpID: 'id.example.com', rpName: DEFAULT_RP_NAME, available: true });
    expect(rp.origins).to.deep.equal(['https://id.example.com']);
    expect(Object.isFrozen(rp) && Object.isFrozen(rp.origins)).to.equal(true);
    expect(createRelyingParty({ issuer: 'https://id.example.com:8443' }).origins).to.deep.equal(['https://id.example.com:8443']);
  });

  it('localhost over http works in development', () => {
    const rp = createRelyingParty({ issuer: 'http://localhost:8080' });
    expect(rp).to.deep.include({ rpID: 'localhost', available: true });
    expect(rp.origins).to.deep.equal(['http://localhost:8080']);
  });

  it('is unavailable on an IP address or plain http elsewhere (browsers refuse WebAuthn there)', () => {
    for (const issuer of ['http://127.0.0.1:8080', 'https://[::1]:8443', 'https://10.0.0.1']) {
      const rp = createRelyingParty({ issuer });
      expect(rp.available, issuer).to.equal(false);
      expect(rp.unavailableReason).to.match(/IP address/);
    }
    const http = createRelyingParty({ issuer: 'http://id.example.com' });
    expect(http.available).to.equal(false);
    expect(http.unavailableReason).to.match(/not https/);
  });

  it('accepts extra origins only on the RP ID or its subdomains, as bare https origins', () => {
    const rp = createRelyingParty({
      issuer: 'https://example.com',
      extraOrigins: ['https://login.example.com', 'https://example.com:8443', 'https://login.example.com/'],
    });
    expect(rp.origins).to.deep.equal(['https://example.com', 'https://login.example.com', 'https://example.com:8443']);
    const bad: [string, RegExp][] = [
      ['https://evil.com', /not on the RP ID example\.com/],
      ['https://notexample.com', /not on the RP ID/],
      ['https://login.example.com/path', /must be an origin/],
      ['https://user:pw@login.example.com', /must be an origin/],
      ['http://login.example.com', /must be https/],
      ['android:apk-key-hash:abc', /must be an origin|must be https/],
      ['not a url', /is not a URL/],
    ];
    for (const [origin, message] of bad) {
      expect(() => createRelyingParty({ issuer: 'https://example.com', extraOrigins: [origin] }), origin).to.throw(ConfigError, message);
    }
  });

  it('the RP name is one printable line of at most 64 characters', () => {
    expect(createRelyingParty({ issuer: 'https://example.com', rpName: ' Acme\u202e\nCloud ' }).rpName).to.equal('Acme Cloud');
    expect(() => createRelyingParty({ issuer: 'https://example.com', rpName: '\u200b' })).to.throw(ConfigError, /webauthn_rp_name/);
    expect(() => createRelyingParty({ issuer: 'https://example.com', rpName: 'x'.repeat(65) })).to.throw(ConfigError);
  });

  it('reads auth.webauthn_rp_name and auth.webauthn_extra_origins from the configuration', () => {
    const defaults = loadConfig({ env: {}, cwd: tmpdir() }).config;
    expect(defaults.auth.webauthn_rp_name).to.equal('InfraNotes');
    expect(defaults.auth.webauthn_extra_origins).to.deep.equal([]);
    const { config } = loadConfig({
      env: {
        IAM_ISSUER: 'https://id.example.com',
        IAM_AUTH_WEBAUTHN_RP_NAME: 'Acme',
        IAM_AUTH_WEBAUTHN_EXTRA_ORIGINS: 'https://a.id.example.com, https://b.id.example.com',
      },
      cwd: tmpdir(),
    });
    const rp = relyingPartyFromConfig(config);
    expect(rp).to.deep.include({ rpID: 'id.example.com', rpName: 'Acme' });
    expect(rp.origins).to.deep.equal(['https://id.example.com', 'https://a.id.example.com', 'https://b.id.example.com']);
  });
});
