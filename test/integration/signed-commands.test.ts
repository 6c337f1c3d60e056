/**
 * Signed commands on the real stack: the execute stage, given this test's verify key, refuses
 * on each command topic an unsigned command, one signed with another key, a signed one whose
 * value was tampered with, a replay of a valid one and an expired one: each gets a REJECTED
 * result with its reason, its original bytes land on the DLQ and are counted, the ledger never
 * hears of it, the store does not change and the catalog's graph holds no forged command (nor
 * a replay's REJECTED over the genuine outcome). A correctly signed command runs, from the decide
 * stage's signing path and from `shardcast command send`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os, { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Admin, Consumer, IHeaders } from '../../lib/kafkajs.js';
import pg from 'pg';
import type { Config } from '../../lib/config.js';
import { type SigningKey, signingKeyFromPem, signRecord } from '../../lib/signing.js';
import { generateKeyPair } from '../../lib/signingKeys.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startExecute } from '../../pipelines/execute.js';
import { startCatalog } from '../../pipelines/catalog.js';
import { createCatalogDriver } from '../../catalog/neo4j.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, CommandResult, DeadLetter } from '../../schemas/types.js';
import { createKafka } from '../../topics/kafka.js';
import { testCommand } from './commands.js';
import { cfg, eventually, ledgerUnreachable, uniq } from './helpers.js';

const run = promisify(execFile);
const unreachable = await ledgerUnreachable();
if (unreachable) throw new Error(unreachable);

const ours = generateKeyPair();
const ourKey = signingKeyFromPem(ours.privatePem);
const theirKey = signingKeyFromPem(generateKeyPair().privatePem);
const group = uniq('signed-commands');
const suffix = group.replace(/[^a-z0-9]/g, '_');
const TOPIC = `signed_${suffix}`;
const tcfg: Config = {
  ...cfg,
  commandSigningKey: ours.privatePem,
  commandVerifyKeys: ours.publicPem,
  commandVerify: 'required',
  commandMaxAgeMs: 120_000,
};

let ctx: PipelineContext;
let admin: Admin;
let watcher: Consumer;
let coord: pg.Client;
const results: CommandResult[] = [];
const letters: DeadLetter[] = [];

async function startAtLatest(groupId: string, topics: string[]): Promise<void> {
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
  }
}

before(async () => {
  ctx = await openContext('signed-commands-test', tcfg);
  admin = createKafka(tcfg, 'signed-commands-test').admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: 2, replicationFactor: 1 }] });
  await startAtLatest(`${group}-execute`, Object.values(COMMAND_TOPICS));
  await startAtLatest(`${group}-catalog`, [TOPICS.results.name, TOPICS.aggregates.name, ...Object.values(COMMAND_TOPICS)]);
  await startAtLatest(`${group}-watch`, [TOPICS.results.name, TOPICS.dlq.name]);
  watcher = createKafka(tcfg, 'signed-commands-watch').consumer({ groupId: `${group}-watch` });
  await watcher.connect();
  await watcher.subscribe({ topics: [TOPICS.results.name, TOPICS.dlq.name] });
  await watcher.run({
    eachMessage: async ({ topic, message }) => {
      const v = await ctx.serde.decode<CommandResult | DeadLetter>(topic, message.value);
      if (topic === TOPICS.results.name) results.push(v as CommandResult);
      else letters.push(v as DeadLetter);
    },
  });
  coord = new pg.Client({ connectionString: tcfg.pgNodes[0]! });
  await coord.connect();
});

after(async () => {
  await watcher?.disconnect();
  await admin?.deleteTopics({ topics: [TOPIC] }).catch(() => {});
  await admin?.disconnect();
  await coord?.end();
  await ctx?.close();
});

/** Results of this process's executor (another executor on the same stack answers with its own key). */
const fromOurExecutor = (r: CommandResult) => r.executor === `shardcast-executor@${hostname()}:${process.pid}`;

/** A command of each kind; only the partition one would change a store we can see (the topic's partitions). */
function command(kind: 'partition' | 'shard' | 'resource', tag: string, partitions = '4'): AnyCommand {
  if (kind === 'partition')
    return testCommand(`signed-${tag}`, TOPIC, 'partition', 'add_topic_partitions', { store: 'kafka', storeKind: 'kafka' }, { partitions });
  if (kind === 'shard')
    return testCommand(`signed-${tag}`, `nope_${suffix}`, 'shard', 'move', { sourceNode: 'node0', targetNode: 'node1' });
  const {
    table: _t,
    partition: _p,
    ...rest
  } = testCommand(`signed-${tag}`, 'x', 'partition', 'scale_in', {}) as AnyCommand & {
    table: string;
    partition: string | null;
  };
  return { ...rest, kind: 'resource', node: 'node97' } as AnyCommand;
}

interface Sent {
  topic: string;
  value: Buffer;
  headers?: IHeaders;
  commandId: string;
}

function encode(cmd: AnyCommand): { topic: string; value: Buffer } {
  const topic = COMMAND_TOPICS[cmd.kind];
  const { kind: _k, ...value } = cmd;
  return { topic, value: ctx.serde.encode(topic, value) };
}

function signed(cmd: AnyCommand, key: SigningKey = ourKey, at = Date.now()): Sent {
  const { topic, value } = encode(cmd);
  return { topic, value, headers: signRecord(key, topic, value, at), commandId: cmd.commandId };
}

const send = (s: Sent) => ctx.producer.sendRaw(s.topic, [{ key: 'signed-test', value: s.value, headers: s.headers }]);

const ledgerRows = async (ids: string[]) =>
  (
    await coord.query<{ command_id: string; status: string }>(
      'SELECT command_id, status FROM shardcast_exec.ledger WHERE command_id = ANY($1)',
      [ids],
    )
  ).rows;

const partitionCount = async () => (await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0]!.partitions.length;

test('forged commands on every command topic change nothing and are refused with their reason; signed ones run', {
  timeout: 120_000,
}, async () => {
  const exec = await startExecute(ctx, { groupId: `${group}-execute`, catalogCheck: 'off' });
  // The catalog stage reads the command topics too: a forgery must not reach the graph decide plans on.
  const catalog = await startCatalog(ctx, { groupId: `${group}-catalog`, kinds: ['kafka'], discoverEveryMs: 0 });
  const neo4j = createCatalogDriver(tcfg);
  const inGraph = async (ids: string[]) =>
    (await neo4j.executeQuery('MATCH (c:Command) WHERE c.id IN $ids RETURN c.id AS id, c.status AS status', { ids })).records.map((r) => ({
      id: r.get('id') as string,
      status: r.get('status') as string,
    }));
  try {
    // Valid commands first: the partition one grows the topic 2 → 4; the others reach the
    // engine, whose own checks refuse them (no such table, no such node): they got past the signature.
    const valid = (['partition', 'shard', 'resource'] as const).map((k) => signed(command(k, `valid-${k}`)));
    for (const v of valid) await send(v);
    const engineResults = await eventually(
      async () => {
        const done = valid.map((v) =>
          results.find((r) => r.commandId === v.commandId && fromOurExecutor(r) && ['SUCCEEDED', 'REJECTED', 'FAILED'].includes(r.status)),
        );
        return done.every((d) => d !== undefined) ? (done as CommandResult[]) : undefined;
      },
      60_000,
      'the valid commands to finish',
    );
    assert.equal(engineResults[0]!.status, 'SUCCEEDED', `partition command: ${engineResults[0]!.reason}`);
    for (const r of engineResults) assert.equal(r.details.refused, undefined, `${r.topic}: passed verification (${r.reason})`);
    assert.equal(await partitionCount(), 4);
    assert.equal((await ledgerRows(valid.map((v) => v.commandId))).length, 3, 'the engine saw each valid command');
    const ledgerBefore = await ledgerRows(valid.map((v) => v.commandId));

    // The forgeries: on each topic unsigned, another key, tampered, replayed; one expired.
    const forged: (Sent & { why: string })[] = [];
    for (const kind of ['partition', 'shard', 'resource'] as const) {
      const bare = command(kind, `unsigned-${kind}`, '8');
      forged.push({ ...encode(bare), commandId: bare.commandId, why: 'unsigned' });
      forged.push({ ...signed(command(kind, `theirs-${kind}`, '8'), theirKey), why: 'unknown-key' });
      const original = command(kind, `tampered-${kind}`, '5');
      const good = signed(original);
      const tampered = encode({ ...original, params: { ...original.params, partitions: '9' } } as AnyCommand);
      forged.push({ ...good, value: tampered.value, why: 'bad-signature' });
      const i = ['partition', 'shard', 'resource'].indexOf(kind);
      forged.push({ ...valid[i]!, why: 'replay' });
    }
    forged.push({ ...signed(command('partition', 'expired', '8'), ourKey, Date.now() - 600_000), why: 'expired' });
    const lettersBefore = letters.length;
    const deadBefore = exec.stats.deadLettered;
    for (const f of forged) await send(f);

    const refused = await eventually(
      async () => {
        const found = forged.map((f) =>
          results.find((r) => r.commandId === f.commandId && r.topic === f.topic && r.status === 'REJECTED' && r.details.refused === f.why),
        );
        return found.every((r) => r !== undefined) ? (found as CommandResult[]) : undefined;
      },
      60_000,
      'a REJECTED result for every forged command',
    );
    for (const [i, r] of refused.entries()) assert.match(r.reason ?? '', /^(signature|replay): /, forged[i]!.why);
    // Their original bytes, each on the DLQ from the execute stage.
    await eventually(async () => (letters.length - lettersBefore >= forged.length ? true : undefined), 30_000, 'the dead letters');
    for (const f of forged) {
      const l = letters.find(
        (d) => d.sourceTopic === f.topic && d.value !== null && Buffer.compare(d.value, f.value) === 0 && d.pipeline === 'execute',
      );
      assert.ok(l, `${f.why} on ${f.topic}: its bytes on the DLQ`);
      assert.ok(l.reason.includes(f.why), `${f.why}: the reason says so (${l.reason})`);
    }
    assert.equal(exec.stats.deadLettered - deadBefore, forged.length, 'every forgery counted');
    assert.deepEqual(Object.fromEntries(Object.entries(exec.rejected).sort()), {
      'bad-signature': 3,
      expired: 1,
      replay: 3,
      'unknown-key': 3,
      unsigned: 3,
    });
    // Nothing changed: no ledger row for a forged id, the valid ones as they were, the topic's partitions as they were.
    const forgedIds = forged.filter((f) => f.why !== 'replay').map((f) => f.commandId);
    assert.deepEqual(await ledgerRows(forgedIds), [], 'the ledger never heard of a forged command');
    assert.deepEqual(await ledgerRows(valid.map((v) => v.commandId)), ledgerBefore);
    assert.equal(await partitionCount(), 4, 'no forged add_topic_partitions ran');
    // The graph: the genuine commands with their own outcome (a replay's REJECTED did not
    // overwrite it), no node for a forged id.
    const graphValid = await eventually(
      async () => {
        const rows = await inGraph(valid.map((v) => v.commandId));
        return rows.length === 3 && rows.every((r) => ['SUCCEEDED', 'REJECTED'].includes(r.status)) ? rows : undefined;
      },
      30_000,
      'the genuine commands in the catalog',
    );
    assert.equal(graphValid.find((r) => r.id === valid[0]!.commandId)?.status, 'SUCCEEDED');
    // Once the catalog has committed past every forgery on the command topics, none is in the graph.
    await eventually(
      async () => {
        for (const topic of Object.values(COMMAND_TOPICS)) {
          const ends = await admin.fetchTopicOffsets(topic);
          const [done] = await admin.fetchOffsets({ groupId: `${group}-catalog`, topics: [topic] });
          for (const e of ends) {
            const at = done?.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1';
            if (BigInt(at) < BigInt(e.high)) return undefined;
          }
        }
        return true;
      },
      30_000,
      'the catalog to commit past the forgeries',
    );
    // The expired command is genuine, only late: the graph holds it as REJECTED, like the executor.
    const expired = forged.find((f) => f.why === 'expired')!.commandId;
    await eventually(
      async () => ((await inGraph([expired]))[0]?.status === 'REJECTED' ? true : undefined),
      30_000,
      'the expired command REJECTED in the catalog',
    );
    assert.deepEqual(await inGraph(forgedIds.filter((id) => id !== expired)), [], 'no forged command in the catalog');

    // And a correctly signed command after them still runs.
    const after = signed(command('partition', 'after', '6'));
    await send(after);
    const r = await eventually(
      async () =>
        results.find(
          (x) => x.commandId === after.commandId && fromOurExecutor(x) && ['SUCCEEDED', 'REJECTED', 'FAILED'].includes(x.status),
        ),
      60_000,
      'the last signed command',
    );
    assert.equal(r.status, 'SUCCEEDED', r.reason ?? '');
    assert.equal(await partitionCount(), 6);

    // An operator's command from the CLI is signed the same way, and runs.
    const file = path.join(os.tmpdir(), `${suffix}.json`);
    await writeFile(
      file,
      JSON.stringify({
        kind: 'partition',
        action: 'add_topic_partitions',
        store: 'kafka',
        storeKind: 'kafka',
        table: TOPIC,
        params: { partitions: '8' },
      }),
    );
    const { stdout } = await run('node', ['bin/shardcast.js', 'command', 'send', '--file', file, '--json'], {
      env: { ...process.env, SHARDCAST_COMMAND_SIGNING_KEY: ours.privatePem },
    });
    const cli = JSON.parse(stdout) as { keyId: string; sent: { commandId: string }[] };
    assert.equal(cli.keyId, ourKey.keyId);
    const viaCli = await eventually(
      async () => results.find((x) => x.commandId === cli.sent[0]!.commandId && ['SUCCEEDED', 'REJECTED', 'FAILED'].includes(x.status)),
      60_000,
      'the command sent from the CLI',
    );
    assert.equal(viaCli.status, 'SUCCEEDED', viaCli.reason ?? '');
    assert.equal(await partitionCount(), 8);
  } finally {
    await exec.stop();
    await catalog.stop();
    await neo4j.close();
  }
});
