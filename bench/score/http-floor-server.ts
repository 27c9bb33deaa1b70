// The HTTP floor of POST /v1/score: the scorer's framework (Nest on Fastify, same body limit and
// response schema, the body read as bytes and parsed in the handler as the scorer does) answering a
// same-shaped response with no validation, features, model or score log. bench/score/run.ts times it
// beside the scorer, so the part of HTTP ÷ raw that no scoring code can remove is measured, not
// guessed. Prints the port on stdout once listening.
import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { createServer } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, RouteSchema, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { scoreResponseSchema, type ScoreResponse } from '@mmctr/scorer';

@Controller('v1')
class FloorController {
  @Post('score')
  @HttpCode(200)
  @RouteSchema({ response: { 200: scoreResponseSchema } })
  score(@Body() bytes: Buffer): ScoreResponse {
    return floorResponse(bytes);
  }
}

function floorResponse(bytes: Buffer): ScoreResponse {
  const body = JSON.parse(bytes.toString('utf8')) as { candidates: { item_id: string }[] };
  return {
    request_id: 'floor',
    model_version: 'floor',
    scores: body.candidates.map((c, i) => ({ item_id: c.item_id, ctr: 0.01 + i * 1e-6 })),
    degraded: false,
  };
}

function listening(port: number, close: () => Promise<unknown>): void {
  process.stdout.write(`${port}\n`);
  process.on('SIGTERM', () => void close().then(() => process.exit(0)));
}

function serveNodeHttp(): void {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const out = JSON.stringify(floorResponse(Buffer.concat(chunks)));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.listen(0, '127.0.0.1', () =>
    listening((server.address() as { port: number }).port, () => new Promise((r) => server.close(r))),
  );
}

@Module({ controllers: [FloorController] })
class FloorModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(
    FloorModule,
    new FastifyAdapter({ bodyLimit: 8 * 1024 * 1024 }),
    { logger: false, bodyParser: false },
  );
  app
    .getHttpAdapter()
    .getInstance()
    .addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  await app.listen(0, '127.0.0.1');
  listening((app.getHttpServer().address() as { port: number }).port, () => app.close());
}

if (process.argv.includes('--node-http')) serveNodeHttp();
else void main();
