import type { OpenAPIObject } from '@nestjs/swagger';
import type { JsonSchema } from './score-request-schema';

/**
 * Publishes the request body of POST /v1/score: the schema the scorer validates with, generated from
 * the running feature repository at start-up (a decorator would fix it when the class loads).
 */
export function withScoreRequestBody(document: OpenAPIObject, schema: JsonSchema): OpenAPIObject {
  const post = document.paths['/v1/score']?.post;
  if (post) {
    post.requestBody = { required: true, content: { 'application/json': { schema } } };
  }
  return document;
}
