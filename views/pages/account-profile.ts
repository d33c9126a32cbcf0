import { button, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, fieldError, optionalTextField } from './account-common.ts';

export interface ProfileModel extends AccountPageModel {
  values: { display_name: string | null; given_name: string | null; family_name: string | null };
}

/** `/account/profile`: the names applications may see (no recent sign-in needed). */
export function accountProfilePage(m: ProfileModel): PageContent {
  const { t } = m.tr;
  const field = (id: keyof ProfileModel['values'], label: string, autocomplete: string, max: number) =>
    optionalTextField({
      id,
      name: id,
      label,
      hint: t('account.profile.optional'),
      value: m.values[id] ?? '',
      autocomplete,
      maxlength: max,
      error: fieldError(m.errors, id),
    });
  return accountPage(m, {
    section: 'profile',
    title: t('account.profile.title'),
    body: html`<p class="lead">${t('account.profile.lead')}</p>
${postForm(
  `${m.base}/profile`,
  m.csrf,
  html`${field('display_name', t('account.profile.display_name'), 'nickname', 200)}
${field('given_name', t('account.profile.given_name'), 'given-name', 100)}
${field('family_name', t('account.profile.family_name'), 'family-name', 100)}
<div class="actions">${button(t('account.profile.save'))}</div>`,
  { novalidate: true },
)}`,
  });
}
