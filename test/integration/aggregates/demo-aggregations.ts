import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_FEATURE_REPO_PATH,
  REPO_FILE,
  parseFeatureRepo,
  type FeatureRepo,
} from '@mmctr/feature-repo';
import { demoAggregations } from '../../support/feature-repo/demo-aggregates';

/**
 * The demo repository plus aggregations of every kind: an item's impressions, clicks and smoothed CTR
 * over 1h / 24h / 7d, the value of its impressions on mobile over 24h (a filtered sum), and a user's
 * clicks per item category over 7d (a composite key read from the item hash). The item counters and
 * CTR are feature-repos/demo-aggregates' own declarations.
 */
export function demoWithAggregations(): FeatureRepo {
  const doc = JSON.parse(readFileSync(join(DEFAULT_FEATURE_REPO_PATH, REPO_FILE), 'utf8')) as Record<
    string,
    unknown
  >;
  doc.version = 'fs-2-aggregates';
  doc.aggregations = [
    ...demoAggregations('item_impressions', 'item_clicks', 'item_ctr'),
    {
      name: 'item_mobile_value',
      key: ['item'],
      source: 'impression',
      filter: { device: 'mobile' },
      op: { sum: 'value' },
      windows: ['24h'],
      granularity: [{ up_to: '7d', bucket: '1h' }],
    },
    {
      name: 'user_category_clicks',
      key: ['user', 'item.category'],
      source: 'click',
      op: 'count',
      windows: ['7d'],
      granularity: [{ up_to: '7d', bucket: '1h' }],
    },
  ];
  return parseFeatureRepo(doc, 'demo with aggregations');
}
