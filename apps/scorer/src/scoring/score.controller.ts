import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Inject,
  Post,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { RouteSchema } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { ScoreService } from './score.service';
import {
  ScoreRequestValidator,
  scoreRequestSchema,
  scoreResponseSchema,
  type ScoreResponse,
} from './score-request';

const MAX_CANDIDATES = Number(process.env.SCORER_MAX_CANDIDATES ?? 2000) || 2000;

@ApiTags('scoring')
@ApiSecurity('api-key')
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class ScoreController {
  private readonly validator: ScoreRequestValidator;

  constructor(
    @Inject(ScoreService) private readonly scorer: ScoreService,
    @Inject(SCORER_CONFIG) config: ScorerConfig,
  ) {
    this.validator = new ScoreRequestValidator(config.SCORER_MAX_CANDIDATES);
  }

  @Post('score')
  @HttpCode(200)
  @ApiOperation({ summary: 'CTR of each candidate item for one user and context' })
  @ApiBody({ schema: scoreRequestSchema(MAX_CANDIDATES) as object })
  @ApiOkResponse({ schema: scoreResponseSchema as object })
  @ApiHeader({ name: 'x-api-key', required: false, description: 'Required when the scorer has API keys set' })
  // Fastify serialises 200s with fast-json-stringify compiled from the schema (not JSON.stringify).
  @RouteSchema({ response: { 200: scoreResponseSchema } })
  async score(
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScoreResponse> {
    // Request metrics are counted in an onResponse hook (bootstrap), with the status actually sent.
    const checked = this.validator.validate(body);
    if (!checked.ok) throw new BadRequestException(checked.message);
    const response = await this.scorer.score(checked.value);
    void reply.header('x-model-version', response.model_version);
    return response;
  }
}
