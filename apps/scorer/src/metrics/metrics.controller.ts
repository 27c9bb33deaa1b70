import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ScorerMetrics } from './scorer-metrics';

@ApiExcludeController()
@Controller()
export class MetricsController {
  constructor(@Inject(ScorerMetrics) private readonly metrics: ScorerMetrics) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
