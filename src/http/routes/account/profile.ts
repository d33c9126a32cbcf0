import type { MessageKey } from '../../../../views/i18n.ts';
import { accountProfilePage } from '../../../../views/pages/account-profile.ts';
import { updateAccountProfile } from '../../../account/index.ts';
import { AppError } from '../../../errors/index.ts';
import { type AccountRoute, type FieldError, formField } from './route.ts';

const FIELDS = ['display_name', 'given_name', 'family_name'] as const;
const REASONS: Record<string, MessageKey> = {
  too_long: 'account.profile.error_too_long',
  unprintable: 'account.profile.error_unprintable',
};

export const profileRoutes: AccountRoute[] = [
  {
    method: 'GET',
    path: 'profile',
    section: 'profile',
    async handler(_ctx, a) {
      a.render(
        accountProfilePage({
          ...a.model(),
          values: { display_name: a.user.displayName, given_name: a.user.givenName, family_name: a.user.familyName },
        }),
      );
    },
  },
  {
    method: 'POST',
    path: 'profile',
    section: 'profile',
    async handler(ctx, a) {
      // The form body is bounded (16 KiB); an overlong name reaches the validation and is refused, never cut.
      const input = Object.fromEntries(FIELDS.map((f) => [f, formField(ctx, f, 16_384) ?? '']));
      try {
        await updateAccountProfile(a.deps.db, a.user.id, input, a.meta);
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'validation_failed') throw err;
        const errors: FieldError[] = (err.invalidParams ?? []).map((p) => ({
          field: p.name,
          message: a.tr.t(REASONS[p.reason] ?? 'account.profile.error_unprintable'),
        }));
        const values = Object.fromEntries(FIELDS.map((f) => [f, (input[f] ?? '').slice(0, 400)])) as Record<
          (typeof FIELDS)[number],
          string
        >;
        return a.render(accountProfilePage({ ...a.model(errors), values }), 400);
      }
      a.redirect('profile', 'profile_saved');
    },
  },
];
