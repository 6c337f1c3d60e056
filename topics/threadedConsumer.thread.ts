/**
 * The consumer thread's body (see threadedConsumer.ts): runs `consumeTopics` with its own
 * Kafka client, hands each chunk over packed, and commits when the main thread asks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../lib/config.js';
import { isRetriable } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import { consumeTopics, type TopicSource } from './consumer.js';
import { createKafka } from './kafka.js';
import { packBatch, type FromThread, type ThreadInit, type ToThread } from './threadedConsumer.js';

const port = parentPort!;
const init = workerData as ThreadInit;
const log = logger('consumer-thread');
const post = (m: FromThread, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

let handedOver = 0;
let taken = 0;
let ending = false;
let source: TopicSource | undefined;

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'taken':
      taken += m.n;
      break;
    case 'commit':
      if (!source) {
        post({ t: 'committed', id: m.id, error: 'consumer not started' });
        break;
      }
      source.commit(m.positions).then(
        () => post({ t: 'committed', id: m.id }),
        (err: unknown) => post({ t: 'committed', id: m.id, error: (err as Error).message ?? String(err), retriable: isRetriable(err) }),
      );
      break;
    case 'seek':
      source?.seek(m.topic, m.partition, m.offset);
      break;
    case 'drain':
      ending = true;
      source?.drain();
      break;
    case 'stop':
      ending = true;
      void (source?.stop() ?? Promise.resolve()).finally(() => post({ t: 'stopped' }));
      break;
  }
});

try {
  const kafka = createKafka(init.kafka, init.clientId);
  source = await consumeTopics(kafka, {
    groupId: init.groupId,
    topics: init.topics,
    fromBeginning: init.fromBeginning,
    sessionTimeoutMs: init.sessionTimeoutMs,
    ...(init.fetchBytes ? { fetchBytes: init.fetchBytes } : {}),
    // the first fetch request is what throughput is timed from (TopicSource.firstFetchAt)
    onFirstFetch: (at) => post({ t: 'fetchStart', epochMs: performance.timeOrigin + at }),
    onRestart: (reason) => post({ t: 'restarting', reason }),
    onJoin: () => post({ t: 'joined' }),
    // fetch no further ahead than `aheadMessages` the main thread has not taken yet
    gate: async () => {
      while (!ending && handedOver - taken > init.aheadMessages) await sleep(2);
    },
  });
  source.assignments$.subscribe((owned) => post({ t: 'assigned', owned }));
  source.batches$.subscribe((envs) => {
    if (envs.length === 0) return;
    const { batch, transfer } = packBatch(envs);
    handedOver += envs.length;
    post({ t: 'batch', batch }, transfer);
  });
  post({ t: 'ready' });
} catch (err) {
  log.error({ err }, 'consumer thread could not start');
  post({
    t: 'failed',
    error: (err as Error).message ?? String(err),
    retriable: isRetriable(err),
    ...(err instanceof ConfigError ? { configKey: err.key } : {}),
  });
}
