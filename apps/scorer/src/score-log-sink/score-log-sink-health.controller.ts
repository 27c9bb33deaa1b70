import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ScoreLogSinkService } from './score-log-sink.service';

/**
 * Readiness of the score-log sink, apart from the scoring API's: a stalled sink must not take a
 * serving scorer out of rotation, but a process that runs the sink alone uses this as its probe.
 */
@ApiTags('health')
@Controller('health')
export class ScoreLogSinkHealthController {
  constructor(private readonly sink: ScoreLogSinkService) {}

  @Get('score-log-sink')
  ready() {
    const health = this.sink.health();
    if (!health.ok) throw new ServiceUnavailableException(health);
    return health;
  }
}
