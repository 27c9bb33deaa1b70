/** Default topic names; every app reads the actual names from config. */
export const DEFAULT_TOPICS = {
  events: 'mmctr.events.v1',
  items: 'mmctr.items.v1',
  dlq: 'mmctr.dlq.v1',
  scores: 'mmctr.scores.v1',
} as const;

/** Headers set on every dead-lettered message. */
export const DLQ_HEADERS = {
  reason: 'mmctr-dlq-reason',
  topic: 'mmctr-original-topic',
  partition: 'mmctr-original-partition',
  offset: 'mmctr-original-offset',
} as const;
