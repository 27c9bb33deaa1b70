// The HTTP floor of POST /v1/score: the scorer's framework (Nest on Fastify, same body limit and
// response schema) answering a same-shaped response with no validation, features, model or score
// log. bench/score/run.ts times it beside the scorer, so the part of HTTP ÷ raw that no scoring code
// can remove is measured, not guessed. Prints the port on stdout once listening.
import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, RouteSchema, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { scoreResponseSchema, type ScoreResponse } from '@mmctr/scorer';

@Controller('v1')
class FloorController {
  @Post('score')
  @HttpCode(200)
  @RouteSchema({ response: { 200: scoreResponseSchema } })
  score(@Body() body: { candidates: { item_id: string }[] }): ScoreResponse {
    return {
      request_id: 'floor',
      model_version: 'floor',
      scores: body.candidates.map((c, i) => ({ item_id: c.item_id, ctr: 0.01 + i * 1e-6 })),
      degraded: false,
    };
  }
}

@Module({ controllers: [FloorController] })
class FloorModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(
    FloorModule,
    new FastifyAdapter({ bodyLimit: 8 * 1024 * 1024 }),
    { logger: false },
  );
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  process.stdout.write(`${address.port}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
