import { OutboxUsageError } from './errors.ts';

/**
 * The v1 Kafka topics of contracts/kafka-events.md. Names carry their major version: an
 * incompatible change ships as a new `.v2` topic next to the old one, never in place.
 */
export const CONTRACT_TOPICS = [
  'iam.auth.v1',
  'iam.token.v1',
  'iam.tenant.v1',
  'iam.membership.v1',
  'iam.authz.v1',
  'iam.user.v1',
  'iam.client.v1',
  'iam.key.v1',
  'iam.audit.v1',
] as const;

export type ContractTopic = (typeof CONTRACT_TOPICS)[number];

export const EVENT_TYPE_PREFIX = 'com.infranotes.iam.';

/**
 * Topic of each aggregate — the segment after the type prefix. Routing by aggregate rather
 * than by full type lets a feature add `user.email_verified` without touching this file,
 * while a type for an aggregate nobody has placed fails loudly at enqueue.
 */
const topicByAggregate: Readonly<Record<string, ContractTopic>> = {
  auth: 'iam.auth.v1',
  session: 'iam.auth.v1',
  token: 'iam.token.v1',
  tenant: 'iam.tenant.v1',
  membership: 'iam.membership.v1',
  invitation: 'iam.membership.v1',
  authz: 'iam.authz.v1',
  permission: 'iam.authz.v1',
  role: 'iam.authz.v1',
  user: 'iam.user.v1',
  client: 'iam.client.v1',
  key: 'iam.key.v1',
  audit: 'iam.audit.v1',
};

/** Event types the contract documents (contracts/kafka-events.md lists each; a test keeps them in sync). */
export const KNOWN_EVENT_TYPES = [
  'auth.login.succeeded',
  'auth.login.failed',
  'auth.logout',
  'token.revoked',
  'key.published',
  'key.activated',
  'key.retired',
  'key.removed',
  'key.revoked',
  'tenant.created',
  'tenant.suspended',
  'tenant.resumed',
  'tenant.deleted',
  'membership.added',
  'membership.removed',
  'authz.binding.created',
  'authz.binding.revoked',
  'permission.registered',
  'permission.updated',
  'user.created',
  'user.disabled',
  'user.enabled',
  'client.created',
  'client.updated',
  'client.deleted',
  'client.secret_rotated',
  'audit.recorded',
  'tenant.updated',
  'tenant.restored',
  'tenant.purged',
  'tenant.domain_added',
  'tenant.domain_verified',
  'tenant.domain_removed',
  'membership.suspended',
  'membership.resumed',
  'invitation.created',
  'invitation.resent',
  'invitation.revoked',
  'invitation.accepted',
  'role.created',
  'role.updated',
  'role.deleted',
  'authz.override.created',
  'authz.override.revoked',
  'authz.delegation.created',
  'authz.delegation.revoked',
].map((t) => `${EVENT_TYPE_PREFIX}${t}`);

const typePattern = /^com\.infranotes\.iam\.([a-z][a-z0-9_]*)(\.[a-z][a-z0-9_]*)+$/;

/** Topic for an event type, e.g. `com.infranotes.iam.token.revoked` → `iam.token.v1`. */
export function topicForType(type: string): ContractTopic {
  const aggregate = typePattern.exec(type)?.[1];
  if (aggregate === undefined) {
    throw new OutboxUsageError(`event type "${type}" is not of the form ${EVENT_TYPE_PREFIX}<aggregate>.<event>`);
  }
  const topic = topicByAggregate[aggregate];
  if (topic === undefined) {
    throw new OutboxUsageError(
      `event type "${type}": no topic for aggregate "${aggregate}" (add it to src/outbox/topics.ts and the contract)`,
    );
  }
  return topic;
}

export function isValidEventType(type: string): boolean {
  return typePattern.test(type);
}

/** The part of a Kafka admin client provisioning needs (kafkajs' Admin satisfies it). */
export interface TopicAdmin {
  listTopics(): Promise<string[]>;
  createTopics(opts: {
    topics: { topic: string; numPartitions: number; replicationFactor: number }[];
    waitForLeaders?: boolean;
  }): Promise<boolean>;
}

export interface ProvisionOptions {
  topics: readonly string[];
  partitions: number;
  replicationFactor: number;
}

/**
 * Creates the topics that do not exist yet and returns their names. Existing topics are left
 * exactly as an operator configured them (partition count, retention). Safe to run from
 * several instances at once: a topic another instance just created counts as existing.
 */
export async function provisionTopics(admin: TopicAdmin, opts: ProvisionOptions): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = opts.topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      topics: missing.map((topic) => ({ topic, numPartitions: opts.partitions, replicationFactor: opts.replicationFactor })),
      waitForLeaders: true,
    });
  } catch (err) {
    if (!onlyAlreadyExists(err)) throw err;
  }
  return missing;
}

function onlyAlreadyExists(err: unknown): boolean {
  const errors = (err as { errors?: unknown }).errors;
  const list = Array.isArray(errors) ? errors : [err];
  return list.length > 0 && list.every((e) => (e as { type?: unknown }).type === 'TOPIC_ALREADY_EXISTS');
}
