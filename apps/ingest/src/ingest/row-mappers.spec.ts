import { contentHash } from '@mmctr/online-store';
import type { BehaviourEvent } from '@mmctr/contracts';
import { eventRow, itemRow } from '../../../../test/support/ingest/demo-rows';

const event: BehaviourEvent = {
  schema_version: 1,
  event_id: 'e1',
  type: 'click',
  ts_ms: 1_767_225_600_999,
  user_id: 'u',
  item_id: 'i',
  request_id: 'r',
};

describe('row mappers', () => {
  it('sets every events column, DateTime as epoch seconds and absent optionals to their zero', () => {
    const row = eventRow(event, 1_800_000_000);
    expect(row).toEqual({
      event_id: 'e1',
      type: 'click',
      ts_ms: 1_767_225_600_999,
      event_time: 1_767_225_600,
      user_id: 'u',
      item_id: 'i',
      request_id: 'r',
      position: 0,
      device: '',
      placement: '',
      country: '',
      value: 0,
      schema_version: 1,
      ingested_at: 1_800_000_000,
    });
  });

  it('reads request context at the top level too', () => {
    const row = eventRow({ ...event, device: 'tv', country: 'FR' }, 0);
    expect([row.device, row.placement, row.country]).toEqual(['tv', '', 'FR']);
  });

  it('copies context and value', () => {
    const row = eventRow(
      {
        ...event,
        type: 'conversion',
        position: 4,
        value: 12.5,
        context: { device: 'mobile', placement: 'feed', country: 'DE' },
      },
      0,
    );
    expect([row.position, row.device, row.placement, row.country, row.value]).toEqual([
      4,
      'mobile',
      'feed',
      'DE',
      12.5,
    ]);
  });

  it('sets every items column with the content hash', () => {
    const item = {
      schema_version: 1 as const,
      item_id: 'i',
      ts_ms: 1_767_225_600_000,
      title: 't',
      tags: ['x'],
    };
    expect(itemRow(item, 5)).toEqual({
      item_id: 'i',
      ts_ms: 1_767_225_600_000,
      updated_at: 1_767_225_600,
      title: 't',
      description: '',
      category: '',
      tags: ['x'],
      image: '',
      content_hash: contentHash(item),
      schema_version: 1,
      ingested_at: 5,
    });
  });
});
