import type { ClaimedEvent } from './claims.ts';

/** CloudEvents 1.0 envelope in structured JSON form (contracts/events/cloudevents-envelope.schema.json). */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: unknown;
  /** Extension: the tenant the event belongs to, when it belongs to one. */
  tenantid?: string;
  /** Partitioning extension: the aggregate id, equal to the Kafka message key. */
  partitionkey: string;
}

/** What the relay hands to Kafka for one event. */
export interface KafkaRecord {
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/**
 * The deployment's default source. All instances share one issuer, so an event republished by
 * another instance after a failover carries the same source — (source, id) stays unique.
 */
export function defaultSource(issuer: string): string {
  return `//iam.infranotes/${new URL(issuer).host}`;
}

export function toCloudEvent(event: ClaimedEvent, fallbackSource: string): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    source: event.source ?? fallbackSource,
    type: event.type,
    ...(event.subject !== null ? { subject: event.subject } : {}),
    time: event.occurredAt.toISOString(),
    datacontenttype: 'application/json',
    data: event.data,
    ...(event.tenantId !== null ? { tenantid: event.tenantId } : {}),
    partitionkey: event.key,
  };
}

/**
 * Structured content mode: the whole envelope is the message value. `ce_id`/`ce_type` headers
 * duplicate two attributes so consumers can dedupe or filter without parsing the value.
 */
export function toKafkaRecord(event: ClaimedEvent, fallbackSource: string, topicPrefix = ''): KafkaRecord {
  return {
    topic: `${topicPrefix}${event.topic}`,
    key: event.key,
    value: JSON.stringify(toCloudEvent(event, fallbackSource)),
    headers: { ce_id: event.id, ce_type: event.type, 'content-type': CLOUDEVENTS_CONTENT_TYPE },
  };
}
