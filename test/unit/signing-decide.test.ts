/** The decide stage's command records carry a signature over their encoded bytes and topic. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signingKeyFromPem, verifyKeyFromPem, verifyRecord } from '../../lib/signing.js';
import { generateKeyPair } from '../../lib/signingKeys.js';
import { commandOutputs } from '../../pipelines/decide.js';
import { COMMAND_TOPICS } from '../../schemas/topics.js';
import type { AnyCommand } from '../../schemas/types.js';

test('every command record is signed for its own topic at send time', () => {
  const pair = generateKeyPair();
  const key = signingKeyFromPem(pair.privatePem);
  const pub = verifyKeyFromPem(pair.publicPem);
  const keys = new Map([[pub.keyId, pub.publicKey]]);
  const base = { commandId: 'c', store: 'pg-shards', table: 't', node: 'node1' };
  const cmds = [
    { ...base, kind: 'partition', commandId: 'p1' },
    { ...base, kind: 'shard', commandId: 's1' },
    { ...base, kind: 'resource', commandId: 'r1' },
  ] as unknown as AnyCommand[];
  const outputs = commandOutputs(cmds, key, () => 1_000);
  assert.deepEqual(outputs.map((o) => o.topic).sort(), Object.values(COMMAND_TOPICS).sort());
  for (const o of outputs) {
    const bytes = Buffer.from(`encoded ${o.topic}`);
    const headers = o.records[0]!.headers!(bytes);
    assert.equal(verifyRecord(keys, o.topic, bytes, headers, 2_000, { maxAgeMs: 60_000, maxSkewMs: 0 }).ok, true, o.topic);
    const other = Object.values(COMMAND_TOPICS).find((t) => t !== o.topic)!;
    assert.equal(verifyRecord(keys, other, bytes, headers, 2_000, { maxAgeMs: 60_000, maxSkewMs: 0 }).ok, false);
  }
});
