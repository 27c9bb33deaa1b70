import { Controller, Get, Header, Inject } from '@nestjs/common';
import { EmbedderMetrics } from './embedder-metrics';

@Controller()
export class MetricsController {
  constructor(@Inject(EmbedderMetrics) private readonly metrics: EmbedderMetrics) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
