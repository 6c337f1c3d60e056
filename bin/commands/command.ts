/**
 * `shardcast command send [--file F.json] [--json]`: an operator's own command (a move, a split,
 * a scale-out), published signed like the decide stage's (SHARDCAST_COMMAND_SIGNING_KEY, or the
 * local stack's key), so executors run it. The file (or stdin) holds one command as JSON, or an
 * array of them, with `kind` (partition | shard | resource) and the command's fields; the
 * bookkeeping fields may be left out (id, times, evidence, policy "manual"). Every command is
 * checked against its topic's schema before anything is sent.
 */
import { handMadeFields } from '../../schemas/handMadeCommand.js';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../../lib/config.js';
import { InputError, UsageError } from '../../lib/errors.js';
import { loadSigningKey } from '../../lib/signingKeys.js';
import { commandOutputs } from '../../pipelines/decide.js';
import { loadSchema } from '../../schemas/load.js';
import { AvroSerde } from '../../schemas/serde.js';
import { COMMAND_TOPICS, topicByName } from '../../schemas/topics.js';
import type { AnyCommand } from '../../schemas/types.js';
import { createKafka } from '../../topics/kafka.js';
import { TopicProducer } from '../../topics/producer.js';

const KINDS = Object.keys(COMMAND_TOPICS) as (keyof typeof COMMAND_TOPICS)[];

/** A command from its JSON, bookkeeping filled in, checked against the topic's Avro schema. */
export function commandFromJson(obj: unknown, now: number, at = 'command'): AnyCommand {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new InputError(`${at}: expected a JSON object`);
  const { kind, ...fields } = obj as Record<string, unknown>;
  if (typeof kind !== 'string' || !KINDS.includes(kind as never)) {
    throw new InputError(`${at}: "kind" must be one of ${KINDS.join(', ')}`);
  }
  const value = {
    commandId: `manual-${randomUUID()}`,
    ...handMadeFields(now, 3_600_000, 'manual', 'issued by an operator with `shardcast command send`'),
    ...(kind === 'partition' ? { partition: null } : {}),
    ...(kind === 'shard' ? { partition: null, sourceNode: null, targetNode: null } : {}),
    ...(kind === 'resource' ? { node: null } : {}),
    ...fields,
  };
  const schema = topicByName(COMMAND_TOPICS[kind as keyof typeof COMMAND_TOPICS])!.schema;
  const problems: string[] = [];
  loadSchema(schema).type.isValid(value, {
    errorHook: (path, v) => problems.push(`${path.join('.') || '(value)'} = ${JSON.stringify(v)}`),
  });
  if (problems.length > 0) throw new InputError(`${at}: not a ${schema}: ${problems.slice(0, 5).join('; ')}`);
  return { kind, ...value } as AnyCommand;
}

export async function commandSendCommand(o: { file?: string; json?: boolean }): Promise<void> {
  let text: string;
  try {
    text = o.file ? await readFile(o.file, 'utf8') : await readStdin();
  } catch {
    throw new UsageError(`--file ${o.file}: cannot be read`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InputError('the commands are not valid JSON');
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (list.length === 0) throw new InputError('no command given');
  const now = Date.now();
  const cmds = list.map((c, i) => commandFromJson(c, now, list.length > 1 ? `command ${i + 1}` : 'command'));
  const cfg = loadConfig();
  // The key before any connection: without one nothing is sent.
  const key = await loadSigningKey(cfg);
  const serde = AvroSerde.create(cfg);
  await serde.registerTopics(Object.values(COMMAND_TOPICS).map((t) => topicByName(t)!));
  const producer = await TopicProducer.connect(createKafka(cfg, 'shardcast-cli'), serde);
  try {
    await producer.sendMany(commandOutputs(cmds, key));
  } finally {
    await producer.disconnect();
  }
  const sent = cmds.map((c) => ({ commandId: c.commandId, topic: COMMAND_TOPICS[c.kind], action: c.action }));
  if (o.json) process.stdout.write(`${JSON.stringify({ keyId: key.keyId, sent }, null, 2)}\n`);
  else for (const s of sent) process.stdout.write(`${s.commandId}: ${s.action} sent to ${s.topic}, signed by key ${key.keyId}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
