import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Inject,
  Post,
  Req,
  Res,
  ServiceUnavailableException,
  UseGuards,
} from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { RouteSchema } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FEATURE_REPO, type FeatureRepo } from '@mmctr/feature-repo';
import { AdmissionService, type ShedReason } from '../admission/admission.service';
import { shedBody } from '../admission/admission.hooks';
import { DeadlineExceededError } from '../admission/work-deadline';
import { DEADLINE_AT_HEADER, DEADLINE_HEADER } from '../admission/deadline-header';
import { markHandler, markParse, serverTiming } from '../admission/server-timing';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { ScoreService, type StageTimes } from './score.service';
import {
  parseJsonBody,
  ScoreRequestValidator,
  scoreResponseSchema,
  type ScoreResponse,
} from './score-request';
import type { JsonSchema } from './score-request-schema';

/**
 * A 503 for an admitted request given up before its answer, with the same body as a shed in the
 * onRequest hook (clients and tests read `reason`).
 */
function shedAfterAdmission(
  reply: FastifyReply,
  reason: ShedReason,
  why: string,
): ServiceUnavailableException {
  void reply.header('retry-after', '1');
  return new ServiceUnavailableException(shedBody(reason, why));
}

@ApiTags('scoring')
@ApiSecurity('api-key')
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class ScoreController {
  private readonly validator: ScoreRequestValidator;
  private readonly serverTiming: boolean;

  constructor(
    private readonly scorer: ScoreService,
    private readonly admission: AdmissionService,
    @Inject(SCORER_CONFIG) config: ScorerConfig,
    @Inject(FEATURE_REPO) repo: FeatureRepo,
  ) {
    // Compiled once: the request schema follows the running repository's context attributes.
    this.validator = new ScoreRequestValidator(repo, config.SCORER_MAX_CANDIDATES);
    this.serverTiming = config.SCORER_SERVER_TIMING;
  }

  /** The request body's JSON Schema (bootstrap publishes it in the OpenAPI document). */
  get requestSchema(): JsonSchema {
    return this.validator.schema;
  }

  @Post('score')
  @HttpCode(200)
  @ApiOperation({ summary: 'CTR of each candidate item for one user and context' })
  @ApiOkResponse({ schema: scoreResponseSchema as object })
  @ApiHeader({ name: 'x-api-key', required: false, description: 'Required when the scorer has API keys set' })
  @ApiHeader({
    name: DEADLINE_HEADER,
    required: false,
    description:
      'Budget for this request in ms, counted from when the scorer reads the headers (SCORER_DEFAULT_DEADLINE_MS when neither deadline header is sent); 503 + Retry-After when it cannot be met',
  })
  @ApiHeader({
    name: DEADLINE_AT_HEADER,
    required: false,
    description:
      "Deadline as Unix time in ms by the client's clock (within an hour of the scorer's), so time spent before the scorer read the request counts; with both headers the earlier deadline applies",
  })
  // Fastify serialises 200s with fast-json-stringify compiled from the schema (not JSON.stringify).
  @RouteSchema({ response: { 200: scoreResponseSchema } })
  async score(
    @Body() bytes: Buffer | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScoreResponse> {
    // Request metrics are counted in an onResponse hook (bootstrap), with the status actually sent;
    // admission (deadline, queue) was decided in an onRequest hook, before the body was read.
    const ticket = this.admission.ticketOf(request.raw);
    const shed = ticket && this.admission.expiredBeforeWork(ticket);
    if (shed) throw shedAfterAdmission(reply, shed, 'the deadline passed before scoring started');
    const queued = ticket ? (this.admission.now() - ticket.arrivalMs) / 1000 : undefined;
    const parseStart = this.serverTiming ? process.hrtime.bigint() : 0n;
    // Parsed here, not in the content-type parser: see bootstrap.ts.
    const body = bytes === undefined ? ({ ok: true, value: undefined } as const) : parseJsonBody(bytes);
    if (this.serverTiming) markParse(request.raw, Number(process.hrtime.bigint() - parseStart) / 1e9);
    if (!body.ok) throw new BadRequestException(body.message);
    const validateStart = this.serverTiming ? process.hrtime.bigint() : 0n;
    const checked = this.validator.validate(body.value);
    if (!checked.ok) throw new BadRequestException(checked.message);
    const validate = this.serverTiming ? Number(process.hrtime.bigint() - validateStart) / 1e9 : undefined;
    const stages: StageTimes = {};
    const response = await this.scorer
      .score(checked.value, stages, ticket && this.admission.deadlineOf(ticket))
      .catch((err: unknown) => {
        if (!(err instanceof DeadlineExceededError)) throw err;
        this.admission.abandoned('before_inference');
        throw shedAfterAdmission(reply, 'deadline_exceeded', err.message);
      });
    void reply.header('x-model-version', response.model_version);
    if (this.serverTiming) {
      void reply.header('server-timing', serverTiming({ queue: queued, validate, ...stages }));
      markHandler(request.raw, ticket?.arrivalMs);
    }
    return response;
  }
}
