import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_FEATURE_REPO_PATH,
  REPO_FILE,
  parseFeatureRepo,
  type FeatureRepo,
} from '@mmctr/feature-repo';

/** The windows and tiers the demo's aggregations use: 1h at minute resolution, 24h and 7d hourly. */
const WINDOWS = ['1h', '24h', '7d'];
const TIERS = [
  { up_to: '1h', bucket: '1m' },
  { up_to: '7d', bucket: '1h' },
];

/**
 * The demo repository plus aggregations of every kind: an item's impressions, clicks and smoothed CTR
 * over 1h / 24h / 7d, the value of its impressions on mobile over 24h (a filtered sum), and a user's
 * clicks per item category over 7d (a composite key read from the item hash). The demo repository
 * itself does not declare them yet: the models' layout does not read aggregations.
 */
export function demoWithAggregations(): FeatureRepo {
  const doc = JSON.parse(readFileSync(join(DEFAULT_FEATURE_REPO_PATH, REPO_FILE), 'utf8')) as Record<
    string,
    unknown
  >;
  doc.version = 'fs-2-aggregates';
  doc.aggregations = [
    {
      name: 'item_impressions',
      key: ['item'],
      source: 'impression',
      op: 'count',
      windows: WINDOWS,
      granularity: TIERS,
    },
    {
      name: 'item_clicks',
      key: ['item'],
      source: 'click',
      op: 'count',
      windows: WINDOWS,
      granularity: TIERS,
    },
    {
      name: 'item_ctr',
      key: ['item'],
      op: { ratio: ['item_clicks', 'item_impressions'], smoothing: [1, 20] },
      windows: WINDOWS,
      default: 0.05,
    },
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
