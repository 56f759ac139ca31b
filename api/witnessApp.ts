// An agency's witness: the C2SP tlog-witness HTTP API (`POST /add-checkpoint`).
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { WitnessConfig } from '../ledger/witness.ts';
import { addCheckpoint } from '../ledger/pg/witnessStore.ts';

export function buildWitnessApp(deps: {
  pool: pg.Pool;
  config: WitnessConfig;
  logger?: boolean;
}): FastifyInstance {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 64 * 1024 });
  // A thrown error (its database away, a bug) is logged here and answered with a fixed line:
  // Fastify's default sends its message, which from pg names hosts and users. Fastify's own
  // refusals of a request (a body over the limit) keep their status and say why. Plain text,
  // as every answer of tlog-witness; the route's own refusals are sent, not thrown: not here.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500)
      return reply.code(status).type('text/plain; charset=utf-8').send(`${error.message}\n`);
    request.log.error({ err: error }, 'add-checkpoint failed');
    // As the alarms below: a witness runs without Fastify's logger (cli/witness.ts).
    console.error(`witness ${deps.config.key.name}: add-checkpoint failed:`, error);
    return reply.code(500).type('text/plain; charset=utf-8').send('internal error\n');
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.post('/add-checkpoint', async (request, reply) => {
    if (typeof request.body !== 'string')
      return reply.code(400).type('text/plain').send('expected a text body\n');
    const answer = await addCheckpoint(deps.pool, deps.config, request.body);
    if (answer.status !== 200 && 'alarm' in answer && answer.alarm) {
      request.log.error({ alarm: answer.alarm }, 'witness refused a checkpoint');
      console.error(`witness ${deps.config.key.name}: ALARM ${answer.alarm}`);
    }
    reply.code(answer.status);
    reply.type(answer.status === 409 ? 'text/x.tlog.size' : 'text/plain; charset=utf-8');
    return reply.send(answer.body);
  });
  return app;
}
