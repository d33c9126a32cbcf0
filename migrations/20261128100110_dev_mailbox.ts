import type { Knex } from 'knex';

/**
 * The development mailbox: with no SMTP configured, outgoing mail is stored here and shown by
 * the dev mail viewer. Development/test only — messages contain live magic links and codes,
 * so production configuration refuses the dev mailer.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists dev_mailbox (
      id         uuid primary key default uuidv7(),
      "from"     text,
      "to"       text not null,
      subject    text not null,
      text       text,
      html       text,
      created_at timestamptz not null default now()
    );
    comment on table dev_mailbox is 'Development mailbox (mail transport absent). Not used in production.';
    create index if not exists dev_mailbox_to_idx on dev_mailbox (lower("to"), created_at);
    create index if not exists dev_mailbox_created_idx on dev_mailbox (created_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists dev_mailbox');
}
