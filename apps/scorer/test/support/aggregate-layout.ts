// The demo repository plus aggregations and aggregate features, for the scorer's aggregate specs: an
// item's impressions, clicks and smoothed CTR (1h at minute resolution, 24h and 7d hourly), a user's
// clicks per item category (a composite key read from the item), a user's own clicks (user side) and a
// clipped, bucketised click level (a categorical slot).
import { parseFeatureRepo, type FeatureRepo } from '@mmctr/feature-repo';
import { ServingLayout } from '../../src/layout/serving-layout';
import { demoAggregations } from '../../../../test/support/feature-repo/demo-aggregates';
import { editableDemoRepo } from './test-layout';

const HOURLY = [{ up_to: '7d', bucket: '1h' }];

export function aggregatesRepo(): FeatureRepo {
  const doc = editableDemoRepo() as Record<string, unknown>;
  doc.version = 'fs-2-aggregate-features';
  doc.aggregations = [
    ...demoAggregations('item_impressions', 'item_clicks', 'item_ctr', 'user_category_clicks'),
    {
      name: 'user_clicks',
      key: ['user'],
      source: 'click',
      op: 'count',
      windows: ['24h'],
      granularity: HOURLY,
      transform: 'log1p',
    },
    {
      name: 'item_click_level',
      key: ['item'],
      source: 'click',
      op: 'count',
      windows: ['24h'],
      granularity: HOURLY,
      clip: [0, 4],
      transform: 'bucketize',
      boundaries: [1, 3],
    },
  ];
  (doc.features as unknown[]).push(
    { name: 'item_ctr', kind: 'aggregate', aggregation: 'item_ctr' },
    { name: 'user_category_clicks', kind: 'aggregate', aggregation: 'user_category_clicks' },
    { name: 'user_clicks', kind: 'aggregate', aggregation: 'user_clicks' },
    { name: 'item_click_level', kind: 'aggregate', aggregation: 'item_click_level' },
  );
  return parseFeatureRepo(doc, 'demo with aggregate features');
}

export const aggregatesLayout = (): ServingLayout => new ServingLayout(aggregatesRepo());
