import { ACR_LEVEL } from '../../src/oidc/acr.ts';
import { noMethodPage } from '../../views/pages/no-method.ts';
import { unmetPage } from '../../views/pages/unmet.ts';
import { requiredLevel } from '../login.ts';
import type { Step } from '../step.ts';
import { atLoginStep } from './guard.ts';

/** The request or the tenant needs a factor the account lacks: the way back is `unmet_authentication_requirements`. */
export const unmetStep: Step = {
  path: 'unmet',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['unmet']))) return;
    const level = requiredLevel(flow) > ACR_LEVEL['urn:infranotes:acr:mfa'] ? 'phr' : 'mfa';
    flow.render(ctx, unmetPage({ ...flow.model('unmet'), level }));
  },
};

/** The tenant enabled no method this server offers yet. */
export const noMethodStep: Step = {
  path: 'no-method',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['no-method']))) return;
    flow.render(ctx, noMethodPage(flow.model('no-method')));
  },
};
