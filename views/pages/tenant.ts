import { button, errorSummary, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, type StepPageModel } from './common.ts';

export interface TenantChoice {
  id: string;
  slug: string;
  name: string;
}

interface TenantPageModel extends StepPageModel {
  email?: string;
}

const signedInAs = (m: TenantPageModel) =>
  m.email ? html`<p class="identity">${m.tr.t('tenant.signed_in_as', { email: m.email })}</p>` : html``;

/**
 * The tenant picker (a user of several tenants signing in to a platform client). One button per
 * tenant, each submitting its id: the server accepts only a tenant the user is an active member of.
 */
export function tenantPickerPage(m: TenantPageModel & { tenants: readonly TenantChoice[] }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  const first = m.tenants[0]?.id;
  return {
    title: t('tenant.select.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(
      t('common.error_summary_title'),
      errors.map((e) => ({ ...e, field: first ? `tenant-${first}` : undefined })),
    )}
<h1>${t('tenant.select.title')}</h1>
${signedInAs(m)}
<p class="lead">${t('tenant.select.lead', { client: m.clientName })}</p>
${postForm(
  m.action,
  m.csrf,
  html`<fieldset>
<legend>${t('tenant.select.legend')}</legend>
${m.tenants.map(
  (tenant) =>
    html`<div class="actions"><button type="submit" class="button--secondary" id="tenant-${tenant.id}" name="tenant" value="${tenant.id}">${tenant.name} <span class="muted">(${tenant.slug})</span></button></div>`,
)}
</fieldset>`,
)}
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}

/** Joining a tenant by verified email domain, offered when the tenant allows it. */
export function tenantJoinPage(m: TenantPageModel & { tenant: TenantChoice }): PageContent {
  const { t } = m.tr;
  const title = t('tenant.join.title', { tenant: m.tenant.name });
  return {
    title,
    formTargets: m.formTargets,
    body: html`<h1>${title}</h1>
${signedInAs(m)}
<p class="lead">${t('tenant.join.lead', { tenant: m.tenant.name, client: m.clientName })}</p>
<p class="muted">${t('tenant.join.note', { tenant: m.tenant.name })}</p>
${postForm(m.action, m.csrf, html`<div class="actions">${button(t('tenant.join.submit', { tenant: m.tenant.name }), { name: 'decision', value: 'join' })}</div>`)}
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}

export type TenantDenial = 'unavailable' | 'membership_suspended' | 'tenant_suspended';

/** The tenant asked for is not available to this account; the way back is `access_denied`. */
export function tenantDeniedPage(m: TenantPageModel & { denial: TenantDenial; tenantName?: string }): PageContent {
  const { t } = m.tr;
  const body =
    m.denial === 'unavailable' || !m.tenantName
      ? t('tenant.denied.unavailable', { client: m.clientName })
      : t(m.denial === 'membership_suspended' ? 'tenant.denied.membership_suspended' : 'tenant.denied.tenant_suspended', {
          tenant: m.tenantName,
        });
  return {
    title: t('tenant.denied.title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('tenant.denied.title')}</h1>
${signedInAs(m)}
<p>${body}</p>
${postForm(m.action, m.csrf, html`<div class="actions">${button(t('tenant.denied.return', { client: m.clientName }), { name: 'decision', value: 'leave' })}</div>`)}`,
  };
}
