/**
 * Key material never reaches a message: every signing error, every verification reason, the
 * configuration errors of the key settings, the CLI's output and the objects the stages log are
 * formatted with a known private key and searched for it (PEM body, raw key in hex, base64 and
 * base64url).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect, promisify } from 'node:util';
import { loadConfig } from '../../lib/config.js';
import { SIGNATURE_HEADERS, signingKeyFromPem, signRecord, verifyKeyFromPem, verifyRecord } from '../../lib/signing.js';
import { generateKeyPair, loadSigningKey, loadVerifyKeys } from '../../lib/signingKeys.js';

const run = promisify(execFile);
const pair = generateKeyPair();
const key = signingKeyFromPem(pair.privatePem);
const body = pair.privatePem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
const d = key.privateKey.export({ format: 'jwk' }).d!;
const raw = Buffer.from(d, 'base64url');
const secrets = [body, body.slice(0, 24), body.slice(-24), d, raw.toString('hex'), raw.toString('base64')];
const NEO4J_SECRET = 'S3cr3t!';
const CH_SECRET = 'ch-password-0123456789';

function assertClean(what: string, text: string): void {
  for (const s of [...secrets, NEO4J_SECRET])
    assert.ok(!text.includes(s), `${what} shows key material or a password: ${text.slice(0, 200)}`);
}

async function messageOf(p: () => unknown): Promise<string> {
  try {
    await p();
  } catch (err) {
    return `${(err as Error).message}\n${inspect(err)}`;
  }
  return '';
}

test('signing and key errors never show the key', async () => {
  const external = { KAFKA_BROKERS: '10.0.0.1:9092' };
  // a PEM whose body is damaged in the middle: the parser refuses it
  const damaged = pair.privatePem.replace(body.slice(20, 30), 'AAAAAAAAAA');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-secret-'));
  const file = path.join(dir, 'key.pem');
  await writeFile(file, damaged);
  const cases: [string, () => unknown][] = [
    ['damaged PEM', () => loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: damaged }))],
    ['damaged PEM file', () => loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: file }))],
    ['public key as signing key', () => loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: pair.publicPem }))],
    ['rsa key', () => loadSigningKey(loadConfig({}, { ...external, SHARDCAST_COMMAND_SIGNING_KEY: rsa }))],
    ['damaged verify key', () => loadVerifyKeys(loadConfig({}, { ...external, SHARDCAST_COMMAND_VERIFY_KEYS: damaged }))],
    [
      'verify key file list with the key inside a path',
      () => loadVerifyKeys(loadConfig({}, { ...external, SHARDCAST_COMMAND_VERIFY_KEYS: `${file},${dir}/x` })),
    ],
    ['no key on an external cluster', () => loadSigningKey(loadConfig({}, external))],
    [
      'bad verify mode beside a key',
      () => loadConfig({}, { SHARDCAST_COMMAND_SIGNING_KEY: pair.privatePem, SHARDCAST_COMMAND_VERIFY: 'maybe' }),
    ],
    ['short Neo4j password', () => loadConfig({}, { NEO4J_PASSWORD: NEO4J_SECRET })],
    ['pem parse', () => signingKeyFromPem(damaged)],
    ['pem parse, public', () => verifyKeyFromPem(damaged)],
  ];
  for (const [what, p] of cases) {
    const m = await messageOf(p);
    assert.ok(m.length > 0, `${what}: an error`);
    assertClean(what, m);
  }
});

test('every verification reason, and the objects the stages log, hold no key material', () => {
  const keys = new Map([[key.keyId, verifyKeyFromPem(pair.publicPem).publicKey]]);
  const topic = 'shardcast.commands.partition';
  const value = Buffer.from('value');
  const h = signRecord(key, topic, value, 1_000);
  const w = { maxAgeMs: 10, maxSkewMs: 10 };
  const verdicts = [
    verifyRecord(keys, topic, Buffer.from('other'), h, 1_000, w),
    verifyRecord(keys, 'x', value, h, 1_000, w),
    verifyRecord(new Map(), topic, value, h, 1_000, w),
    verifyRecord(keys, topic, value, undefined, 1_000, w),
    verifyRecord(keys, topic, value, { ...h, [SIGNATURE_HEADERS.signature]: undefined }, 1_000, w),
    verifyRecord(keys, topic, value, h, 100_000, w),
    verifyRecord(keys, topic, value, h, 0, w),
    verifyRecord(keys, topic, value, { ...h, [SIGNATURE_HEADERS.keyId]: Buffer.from(body) }, 1_000, w),
  ];
  for (const v of verdicts) {
    assert.equal(v.ok, false);
    assertClean('verdict', JSON.stringify(v));
  }
  // What decide and execute log (key ids), and a key object if one were ever logged by mistake.
  assertClean('signing key as JSON', JSON.stringify({ keyId: key.keyId, key }));
  assertClean('signing key inspected', inspect(key, { depth: 5 }));
  assertClean('headers', JSON.stringify(h));
});

test('the CLI refuses a bad key without printing it', async () => {
  const env = { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', SHARDCAST_COMMAND_SIGNING_KEY: pair.publicPem.replace('PUBLIC', 'PRIVATE') };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-secret-cli-'));
  const file = path.join(dir, 'cmd.json');
  await writeFile(file, JSON.stringify({ kind: 'resource', action: 'scale_out', store: 'pg-shards', storeKind: 'postgres' }));
  for (const signing of [pair.privatePem.replace(body.slice(20, 30), 'AAAAAAAAAA'), pair.publicPem]) {
    const out = await run('node', ['bin/shardcast.js', 'command', 'send', '--file', file], {
      env: { ...env, SHARDCAST_COMMAND_SIGNING_KEY: signing, CLICKHOUSE_PASSWORD: CH_SECRET },
    }).then(
      (r) => ({ code: 0, text: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, text: e.stdout + e.stderr }),
    );
    assert.equal(out.code, 2, out.text);
    assert.match(out.text, /SHARDCAST_COMMAND_SIGNING_KEY/);
    assertClean('command send', out.text);
    assert.ok(!out.text.includes(CH_SECRET));
  }
  const gen = await run('node', ['bin/shardcast.js', 'keys', 'generate', '--out', path.join(dir, 'k'), '--json']);
  const written = JSON.parse(gen.stdout) as { privateFile: string };
  const { readFile } = await import('node:fs/promises');
  const pem = await readFile(written.privateFile, 'utf8');
  const genBody = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  assert.ok(!gen.stdout.includes(genBody) && !gen.stderr.includes(genBody), 'keys generate prints paths and the key id only');
});
