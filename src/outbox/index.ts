// Transactional outbox (ADR-0008, contracts/kafka-events.md): write events in the transaction
// of the change, publish them to Kafka from the relay. Nothing else in this folder is public.
export type { CloudEvent } from './cloudevents.ts';
export { type EnqueuedEvent, enqueueEvent, type OutboxEventInput } from './enqueue.ts';
export { OutboxUsageError } from './errors.ts';
export { purgePublished, requeueParked } from './maintenance.ts';
export { createOutboxRelay, type DrainResult, type OutboxRelay, type OutboxRelayOptions, type RelayStatus } from './relay.ts';
export { type OutboxStats, readStats as readOutboxStats } from './stats.ts';
export { CONTRACT_TOPICS, type ContractTopic, KNOWN_EVENT_TYPES, topicForType } from './topics.ts';
