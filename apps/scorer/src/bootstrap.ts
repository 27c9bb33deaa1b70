import cluster from 'node:cluster';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { admitScoreRequests } from './admission/admission.hooks';
import { AdmissionService } from './admission/admission.service';
import { completeServerTiming } from './admission/server-timing';
import { ScorerAppModule } from './app.module';
import { serveClusterMetrics } from './cluster/scorer-cluster';
import { loadScorerConfig } from './config/scorer-config';
import { LOGGER, NestPinoLogger } from './logger';
import { countScoreRequests } from './metrics/request-metrics.hook';
import { ScorerMetrics } from './metrics/scorer-metrics';
import { ModelManager } from './model/model-manager.service';
import { acceptJsonBodiesOnly } from './scoring/json-only';
import { ScoreController } from './scoring/score.controller';
import { withScoreRequestBody } from './scoring/score-request-openapi';

/** Builds the scorer app (Fastify, Swagger UI at /docs + /docs-json, X-Model-Version on every response); not listening yet. */
export async function createScorerApp(): Promise<NestFastifyApplication> {
  const scorer = loadScorerConfig();
  const app = await NestFactory.create<NestFastifyApplication>(
    ScorerAppModule,
    new FastifyAdapter({ bodyLimit: scorer.SCORER_BODY_LIMIT_BYTES }),
    // Nest's JSON parser decodes leniently (invalid UTF-8 becomes U+FFFD); ours below refuses it.
    { bufferLogs: true, bodyParser: false },
  );
  // The body stays bytes until the handler parses it (ScoreController). A parsed body hung on
  // Fastify's request outlives the request in the young generation: at 500 candidates ≈ 2.3 MB was
  // promoted per scavenge and each scavenge paused ≈ 3.5 ms, against ≈ 0.2 MB and ≈ 1.1 ms when the
  // handler holds it (bench/score/ab.ts; docs/scorer.md).
  app
    .getHttpAdapter()
    .getInstance()
    .addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const logger = app.get<Logger>(LOGGER);
  app.useLogger(new NestPinoLogger(logger));
  app.enableShutdownHooks();

  const models = app.get(ModelManager);
  const fastify = app.getHttpAdapter().getInstance();
  countScoreRequests(fastify, app.get(ScorerMetrics));
  if (cluster.isWorker) serveClusterMetrics(fastify, app.get(ScorerMetrics).registry);
  admitScoreRequests(fastify, app.get(AdmissionService), () => models.version('production'));
  acceptJsonBodiesOnly(fastify);
  if (scorer.SCORER_SERVER_TIMING) {
    const metrics = app.get(ScorerMetrics);
    completeServerTiming(fastify, () => metrics.gcPauseTotalMs);
  }
  fastify.addHook('onSend', async (_req, reply, payload) => {
    // A scored response already names the version that scored it; others name the serving one.
    if (!reply.hasHeader('x-model-version'))
      void reply.header('x-model-version', models.version('production') ?? 'none');
    return payload;
  });

  const doc = new DocumentBuilder()
    .setTitle('mmctr scorer')
    .setDescription('Real-time CTR scoring with target attention over the user history')
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, 'api-key')
    .build();
  const document = withScoreRequestBody(
    SwaggerModule.createDocument(app, doc),
    app.get(ScoreController).requestSchema,
  );
  // Swagger UI at /docs (its assets via @fastify/static), the document at /docs-json and /docs-yaml.
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
  return app;
}
