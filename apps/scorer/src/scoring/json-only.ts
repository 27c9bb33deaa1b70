import type { FastifyInstance } from 'fastify';

/** Thrown by the catch-all body parser: Fastify answers its statusCode. */
class UnsupportedMediaType extends Error {
  readonly statusCode = 415;
  readonly code = 'MMCTR_UNSUPPORTED_MEDIA_TYPE';
}

/**
 * Bodies are JSON only: Fastify parses text/plain into a string by default (which then failed
 * validation as a 400); any body that is not application/json is answered 415 with a message.
 */
export function acceptJsonBodiesOnly(fastify: FastifyInstance): void {
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('*', (request, _payload, done) => {
    const type = request.headers['content-type'] ?? 'none';
    done(new UnsupportedMediaType(`request bodies must be application/json; got content-type ${type}`));
  });
}
