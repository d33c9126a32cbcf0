import Router from '@koa/router';
import { expect } from 'chai';
import { routeIndex } from '../../src/http/app.ts';

/** Which requests our routers take before the engine sees them (src/http/app.ts). */
describe('http: route index in front of the engine', () => {
  const noop = () => undefined;
  const admin = new Router({ prefix: '/v1/tenants/:tenantId/members' });
  admin.get('/', noop);
  admin.delete('/:userId', noop);
  const wellKnown = new Router();
  wellKnown.get('/.well-known/jwks.json', noop);
  wellKnown.get('/account', noop);
  const pattern = new Router();
  pattern.get('/:anything/special', noop);
  const routed = routeIndex([...admin.stack, ...wellKnown.stack, ...pattern.stack]);

  it('takes paths of our routes, including parameters and the router’s case-insensitive matching', () => {
    expect(routed('/v1/tenants/t1/members')).to.equal(true);
    expect(routed('/v1/tenants/t1/members/u1')).to.equal(true);
    expect(routed('/.well-known/jwks.json')).to.equal(true);
    expect(routed('/ACCOUNT')).to.equal(true);
    expect(routed('/token/special')).to.equal(true);
  });

  it('leaves everything else to the engine, also paths sharing a first segment with ours', () => {
    expect(routed('/token')).to.equal(false);
    expect(routed('/.well-known/openid-configuration')).to.equal(false);
    expect(routed('/v1/unknown')).to.equal(false);
    expect(routed('/')).to.equal(false);
    expect(routed('/accounts')).to.equal(false);
  });
});
