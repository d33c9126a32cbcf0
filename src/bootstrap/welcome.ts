import type { IamService } from '../app.ts';

/** A few lines on stdout telling a newcomer what is running and how to use it. */
export function printWelcome(service: IamService): void {
  const { config } = service;
  const lines = [
    '',
    `  InfraNotes IAM is ready on ${service.url}  (issuer ${config.issuer})`,
    `    discovery  ${service.url}/.well-known/openid-configuration`,
    `    health     ${service.url}/ready   metrics ${service.url}/metrics`,
  ];
  const demo = service.demo;
  if (demo) {
    lines.push(
      '  First start: demo data created. These credentials are shown ONCE (only hashes are stored):',
      `    tenant     ${demo.tenant.slug} (${demo.tenant.id})`,
      `    admin      ${demo.admin.email} / ${demo.admin.password}`,
      `    client     ${demo.client.client_id} / ${demo.client.client_secret}  redirect ${demo.client.redirect_uri}`,
    );
  }
  if (!config.database.url) lines.push(`  Embedded PostgreSQL 18 under ${config.data_dir}/postgres; operate it with \`npx iam --help\`.`);
  if (service.mailer.mode === 'dev-mailbox') lines.push(`  Mail goes to the development mailbox: ${service.url}/dev/mailbox`);
  lines.push('');
  process.stdout.write(`${lines.join('\n')}\n`);
}
