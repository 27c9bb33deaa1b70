// One POST /v1/score on a keep-alive agent, shared by the throughput and profile benches.
import { Agent, IncomingHttpHeaders, request } from 'node:http';

/** Resolves with the response headers once the body is drained; rejects unless 200. */
export function postScore(url: string, body: string, agent: Agent): Promise<IncomingHttpHeaders> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname,
        port,
        path: '/v1/score',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(res.headers) : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
