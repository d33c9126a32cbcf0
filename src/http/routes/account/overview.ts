import { accountOverviewPage } from '../../../../views/pages/account-overview.ts';
import { secondFactorSummary } from '../../../account/index.ts';
import type { AccountRoute } from './route.ts';

export const overviewRoutes: AccountRoute[] = [
  {
    method: 'GET',
    path: '',
    section: 'overview',
    async handler(_ctx, a) {
      const factors = await secondFactorSummary(a.deps.db, a.user.id);
      a.render(
        accountOverviewPage({
          ...a.model(),
          profile: a.user,
          totp: factors.totp !== null,
          passkeys: factors.passkeys.length,
          recoveryCodesLeft: factors.recoveryCodesLeft,
          signedInAt: new Date(a.session.authTime * 1000),
        }),
      );
    },
  },
];
