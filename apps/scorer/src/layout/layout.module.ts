import { Global, Module } from '@nestjs/common';
import { FEATURE_REPO, type FeatureRepo } from '@mmctr/feature-repo';
import { ServingLayout } from './serving-layout';

/** Injection token of the running repository's ServingLayout (built once; a layout it cannot serve fails startup). */
export const SERVING_LAYOUT = Symbol('SERVING_LAYOUT');

@Global()
@Module({
  providers: [
    {
      provide: SERVING_LAYOUT,
      inject: [FEATURE_REPO],
      useFactory: (repo: FeatureRepo) => new ServingLayout(repo),
    },
  ],
  exports: [SERVING_LAYOUT],
})
export class ServingLayoutModule {}
