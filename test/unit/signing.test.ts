/**
 * Signed commands: a signature over (topic, time, exact value bytes) verifies, and every way a
 * command can be forged or moved fails with its own reason; keys load from configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { SIGNATURE_HEADERS, signingKeyFromPem, signRecord, verifyKeyFromPem, verifyRecord, type VerifyKeys } from '../../lib/signing.js';
import { generateKeyPair, loadSigningKey, loadVerifyKeys, writeKeyPair } from '../../lib/signingKeys.js';

const pair = generateKeyPair();
const key = signingKeyFromPem(pair.privatePem);
const pub = verifyKeyFromPem(pair.publicPem);
const keys: VerifyKeys = new Map([[pub.keyId, pub.publicKey]]);
const window = { maxAgeMs: 60_000, maxSkewMs: 5_000 };
const topic = 'shardcast.commands.shard';
const value = Buffer.from([0, 0, 0, 0, 7, 1, 2, 3, 4, 5]);
const now = 1_700_000_000_000;

const reasonOf = (v: ReturnType<typeof verifyRecord>) => (v.ok ? 'ok' : v.reason);

test('a signed record verifies; its key id is the public key fingerprint', () => {
  assert.equal(key.keyId, pub.keyId);
  assert.match(key.keyId, /^[0-9a-f]{16}$/);
  const headers = signRecord(key, topic, value, now);
  const v = verifyRecord(keys, topic, value, headers, now + 1000, window);
  assert.deepEqual(v, { ok: true, keyId: key.keyId, signedAt: now });
});

test('tampered value, other topic, other key, missing header, expired and future time: each its own reason', () => {
  const headers = signRecord(key, topic, value, now);
  const tampered = Buffer.from(value);
  tampered[7] = tampered[7]! ^ 1;
  const other = signingKeyFromPem(generateKeyPair().privatePem);
  // another key claiming our key id: the signature cannot match
  const impostor = { ...signRecord(other, topic, value, now), [SIGNATURE_HEADERS.keyId]: Buffer.from(key.keyId) };
  const moved = signRecord(key, 'shardcast.commands.partition', value, now);
  const { [SIGNATURE_HEADERS.signature]: _s, ...noSignature } = headers;
  const cases: [string, ReturnType<typeof verifyRecord>, string][] = [
    ['tampered value', verifyRecord(keys, topic, tampered, headers, now, window), 'bad-signature'],
    ['moved to another topic', verifyRecord(keys, topic, value, moved, now, window), 'wrong-topic'],
    [
      'topic header rewritten to match',
      verifyRecord(keys, topic, value, { ...moved, [SIGNATURE_HEADERS.topic]: Buffer.from(topic) }, now, window),
      'bad-signature',
    ],
    ['signed with an unknown key', verifyRecord(keys, topic, value, signRecord(other, topic, value, now), now, window), 'unknown-key'],
    ['another key under our key id', verifyRecord(keys, topic, value, impostor, now, window), 'bad-signature'],
    ['no headers', verifyRecord(keys, topic, value, undefined, now, window), 'unsigned'],
    ['signature header missing', verifyRecord(keys, topic, value, noSignature, now, window), 'unsigned'],
    ['expired', verifyRecord(keys, topic, value, headers, now + 60_001, window), 'expired'],
    ['from the future', verifyRecord(keys, topic, value, headers, now - 5_001, window), 'future'],
    [
      'time rewritten',
      verifyRecord(keys, topic, value, { ...headers, [SIGNATURE_HEADERS.signedAt]: Buffer.from(String(now + 1)) }, now, window),
      'bad-signature',
    ],
    [
      'garbled time',
      verifyRecord(keys, topic, value, { ...headers, [SIGNATURE_HEADERS.signedAt]: Buffer.from('soon') }, now, window),
      'malformed',
    ],
    [
      'short signature',
      verifyRecord(keys, topic, value, { ...headers, [SIGNATURE_HEADERS.signature]: Buffer.from('AAAA') }, now, window),
      'malformed',
    ],
    ['no value', verifyRecord(keys, topic, null, headers, now, window), 'malformed'],
  ];
  for (const [what, verdict, reason] of cases) {
    assert.equal(reasonOf(verdict), reason, what);
    assert.ok(!verdict.ok && verdict.message.length > 0, what);
  }
  // the edges of the window are inside it
  assert.equal(reasonOf(verifyRecord(keys, topic, value, headers, now + 60_000, window)), 'ok');
  assert.equal(reasonOf(verifyRecord(keys, topic, value, headers, now - 5_000, window)), 'ok');
});

test('headers as strings or arrays (as a producer may hand them) verify too', () => {
  const headers = signRecord(key, topic, value, now);
  const asStrings = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v.toString()]]));
  assert.equal(reasonOf(verifyRecord(keys, topic, value, asStrings, now, window)), 'ok');
});

test('keys: PEM text or files from configuration; bad ones are config errors without key material', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-keys-'));
  const written = await writeKeyPair(dir);
  assert.equal((await stat(written.privateFile)).mode & 0o777, 0o600);
  await assert.rejects(
    writeKeyPair(dir),
    /a private key is already at .*; not overwritten/,
    'an existing private key is never overwritten',
  );
  const external = { KAFKA_BROKERS: '10.0.0.1:9092' };
  const fromFile = await loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: written.privateFile }));
  assert.equal(fromFile.keyId, written.keyId);
  const inline = await loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: pair.privatePem }));
  assert.equal(inline.keyId, key.keyId);
  const two = `${pair.publicPem}\n${await readFile(written.publicFile, 'utf8')}`;
  const verify = await loadVerifyKeys(loadConfig({}, { ...external, SHARDCAST_COMMAND_VERIFY_KEYS: two }));
  assert.deepEqual([...(verify?.keys() ?? [])].sort(), [key.keyId, written.keyId].sort());
  const files = await loadVerifyKeys(
    loadConfig({}, { ...external, SHARDCAST_COMMAND_VERIFY_KEYS: `${written.publicFile}, ${written.privateFile}` }),
  );
  assert.deepEqual([...(files?.keys() ?? [])], [written.keyId], 'a private key file gives its public half');
  assert.equal(await loadVerifyKeys(loadConfig({}, { ...external, SHARDCAST_COMMAND_VERIFY: 'off' })), null);
  // an external cluster gets no key made for it
  await assert.rejects(loadSigningKey(loadConfig({}, external)), /SHARDCAST_COMMAND_SIGNING_KEY: commands are signed/);
  await assert.rejects(loadVerifyKeys(loadConfig({}, external)), /SHARDCAST_COMMAND_VERIFY_KEYS: executors verify/);
  await assert.rejects(
    loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: pair.publicPem })),
    /expected an Ed25519 private key/,
  );
  await assert.rejects(
    loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: path.join(dir, 'nope.pem') })),
    /cannot read key file .*ENOENT/,
  );
  const rsa = (await import('node:crypto'))
    .generateKeyPairSync('rsa', { modulusLength: 1024 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  await assert.rejects(loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: rsa })), /an rsa key, expected ed25519/);
});

test('the local stack makes its key pair once, and decide and executors agree on it', async () => {
  const stackDir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-stack-'));
  const cfg = loadConfig({ stackDir }, {});
  const [a, b] = await Promise.all([loadSigningKey(cfg), loadSigningKey(cfg)]);
  assert.equal(a.keyId, b.keyId, 'two processes starting at once get one key');
  const verify = await loadVerifyKeys(cfg);
  assert.deepEqual([...(verify?.keys() ?? [])], [a.keyId]);
});
