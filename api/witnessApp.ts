// An agency's witness: the C2SP tlog-witness HTTP API (`POST /add-checkpoint`).
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { WitnessConfig } from '../ledger/witness.ts';
import { addCheckpoint } from '../ledger/pg/witnessStore.ts';

export function buildWitnessApp(deps: {
  pool: pg.Pool;
  config: WitnessConfig;
  logger?: boolean;
}): FastifyInstance {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 64 * 1024 });
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
