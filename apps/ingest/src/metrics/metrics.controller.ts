import { Controller, Get, Header, Inject } from '@nestjs/common';
import { IngestMetrics } from './ingest-metrics.service';

@Controller()
export class MetricsController {
  constructor(@Inject(IngestMetrics) private readonly metrics: IngestMetrics) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
