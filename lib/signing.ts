/**
 * Signed commands, pure: Ed25519 (node:crypto) over a command record's exact value bytes, its
 * topic and the time it was signed, carried in Kafka record headers so the Avro schemas stay as
 * they are. The topic is signed so a command cannot be moved to another command topic; the time
 * so a captured command cannot be replayed after the window (replays inside it are caught by
 * command id at the executor). Key material never enters a message or an error: only key ids,
 * which are fingerprints of public keys (docs/decisions/0080-signed-commands.md).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { InputError } from './errors.js';

/** The record headers a signed command carries. */
export const SIGNATURE_HEADERS = {
  signature: 'shardcast-signature',
  keyId: 'shardcast-key-id',
  signedAt: 'shardcast-signed-at',
  topic: 'shardcast-signed-topic',
} as const;

const KEY_ID = /^[0-9a-f]{16}$/;
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Domain separation: these bytes are never a valid signature input for anything else we sign. */
const CONTEXT = 'shardcast-command-v1';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

/** Public keys that may sign commands, by key id. */
export type VerifyKeys = ReadonlyMap<string, KeyObject>;

/** Kafka record headers as kafkajs hands them over (consumed values are Buffers). */
export type HeaderValues = Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;

/** How long a signature is good for, and how far ahead of our clock a signer's clock may be. */
export interface SignatureWindow {
  maxAgeMs: number;
  maxSkewMs: number;
}

/** Why a record failed verification: each case its own reason, for the result and the metrics. */
export type VerifyFailure = 'unsigned' | 'malformed' | 'unknown-key' | 'wrong-topic' | 'bad-signature' | 'expired' | 'future';

export type Verdict =
  | { ok: true; keyId: string; signedAt: number }
  | { ok: false; reason: VerifyFailure; message: string; keyId: string | null };

/** A key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** An Ed25519 private key from PEM text; the error says what is wrong, never what the text was. */
export function signingKeyFromPem(pem: string | Buffer): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new InputError('not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new InputError(`an ${privateKey.asymmetricKeyType} key, expected ed25519`);
  return { keyId: keyIdOf(privateKey), privateKey };
}

/** An Ed25519 public key from PEM text (a private key PEM gives its public half). */
export function verifyKeyFromPem(pem: string | Buffer): { keyId: string; publicKey: KeyObject } {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch {
    throw new InputError('not a PEM public key');
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new InputError(`an ${publicKey.asymmetricKeyType} key, expected ed25519`);
  return { keyId: keyIdOf(publicKey), publicKey };
}

/** The bytes a signature covers. Topic names cannot hold a newline and the time is digits, so the joins are unambiguous. */
export function signedBytes(topic: string, signedAt: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${CONTEXT}\n${topic}\n${signedAt}\n`), value]);
}

/** The headers that sign `value` as a record of `topic`, signed at `signedAt` (ms since the epoch). */
export function signRecord(key: SigningKey, topic: string, value: Buffer, signedAt: number): Record<string, Buffer> {
  const signature = sign(null, signedBytes(topic, signedAt, value), key.privateKey);
  return {
    [SIGNATURE_HEADERS.signature]: Buffer.from(signature.toString('base64')),
    [SIGNATURE_HEADERS.keyId]: Buffer.from(key.keyId),
    [SIGNATURE_HEADERS.signedAt]: Buffer.from(String(signedAt)),
    [SIGNATURE_HEADERS.topic]: Buffer.from(topic),
  };
}

function header(headers: HeaderValues | undefined, name: string): string | null {
  const v = headers?.[name];
  if (v === undefined) return null;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? null : one.toString();
}

const fail = (reason: VerifyFailure, message: string, keyId: string | null = null): Verdict => ({ ok: false, reason, message, keyId });

/**
 * Checks a consumed record's signature: every header present, a known key, signed for this
 * topic, within the window, and the signature over exactly these bytes. `now` is an argument:
 * no clock is read here.
 */
export function verifyRecord(
  keys: VerifyKeys,
  topic: string,
  value: Buffer | null,
  headers: HeaderValues | undefined,
  now: number,
  window: SignatureWindow,
): Verdict {
  const missing = Object.values(SIGNATURE_HEADERS).filter((h) => header(headers, h) === null);
  if (missing.length === Object.keys(SIGNATURE_HEADERS).length) return fail('unsigned', 'unsigned command: no signature headers');
  if (missing.length > 0) return fail('unsigned', `unsigned command: header ${missing.join(', ')} missing`);
  const keyId = header(headers, SIGNATURE_HEADERS.keyId)!;
  const signedAtText = header(headers, SIGNATURE_HEADERS.signedAt)!;
  const signedTopic = header(headers, SIGNATURE_HEADERS.topic)!;
  const signature = Buffer.from(header(headers, SIGNATURE_HEADERS.signature)!, 'base64');
  // Headers are the sender's text: only what has the shape of a key id or a topic is repeated.
  if (!KEY_ID.test(keyId)) return fail('malformed', 'key id header is not a key id (16 hex digits)');
  if (!TOPIC_NAME.test(signedTopic)) return fail('malformed', 'signed-topic header is not a topic name', keyId);
  if (value === null) return fail('malformed', 'signed command without a value', keyId);
  if (!/^\d{1,15}$/.test(signedAtText)) return fail('malformed', 'signed-at header is not a time in ms', keyId);
  if (signature.length !== 64) return fail('malformed', `signature is ${signature.length} bytes, an Ed25519 signature is 64`, keyId);
  const key = keys.get(keyId);
  if (!key) return fail('unknown-key', `signed by key ${keyId}, which is not a verify key here`, keyId);
  if (signedTopic !== topic) return fail('wrong-topic', `signed for topic ${signedTopic}, found on ${topic}`, keyId);
  if (!verify(null, signedBytes(topic, Number(signedAtText), value), key, signature)) {
    return fail('bad-signature', 'signature does not match the command bytes (tampered, or signed with another key under this id)', keyId);
  }
  const signedAt = Number(signedAtText);
  if (signedAt < now - window.maxAgeMs) {
    return fail(
      'expired',
      `signed ${Math.round((now - signedAt) / 1000)} s ago, older than the ${Math.round(window.maxAgeMs / 1000)} s window`,
      keyId,
    );
  }
  if (signedAt > now + window.maxSkewMs) {
    return fail(
      'future',
      `signed ${Math.round((signedAt - now) / 1000)} s in the future, beyond the ${Math.round(window.maxSkewMs / 1000)} s clock skew allowed`,
      keyId,
    );
  }
  return { ok: true, keyId, signedAt };
}
