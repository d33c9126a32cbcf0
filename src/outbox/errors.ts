/**
 * Misuse of the outbox API by our own code (no transaction, unknown event type, data that is
 * not JSON). A TypeError because it is a programming error, never a client's.
 */
export class OutboxUsageError extends TypeError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'OutboxUsageError';
  }
}

/**
 * Kafka could not be reached or is not accepting writes at all. Says nothing about the events
 * themselves, so it never counts towards an event's attempts; the relay reconnects with backoff.
 */
export class KafkaUnavailableError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'KafkaUnavailableError';
  }
}

/** Kafka refused these particular events (unknown topic, too large, not authorised for the topic). */
export class EventRejectedError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'EventRejectedError';
    this.reason = reason;
  }
}
