/**
 * Where command keys come from: the configuration (PEM text or PEM files), else, on the local
 * stack only, the stack's own key pair under `<stackDir>/keys/`, made on first use so the demo
 * and `run` work with nothing to set. A cluster given by the environment (KAFKA_BROKERS) never
 * gets a key made for it: decide and execute refuse to start there until keys are configured.
 * Errors name the setting and the file, never key material.
 */
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Config, ConfigError, ENV_KEYS } from './config.js';
import { ShardcastError, UsageError } from './errors.js';
import { type SigningKey, signingKeyFromPem, type VerifyKeys, verifyKeyFromPem } from './signing.js';

/** File names of a key pair written by `shardcast keys generate` and by the local stack. */
export const KEY_FILES = { private: 'command-signing.pem', public: 'command-verify.pem' } as const;

/** A new Ed25519 key pair as PEM text (PKCS#8 private, SPKI public). */
export function generateKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * Writes a new key pair into `dir` (private key readable by its owner only); refuses to
 * overwrite an existing private key. Returns the paths and the key id.
 */
export async function writeKeyPair(dir: string): Promise<{ privateFile: string; publicFile: string; keyId: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privatePem, publicPem } = generateKeyPair();
  const privateFile = path.join(dir, KEY_FILES.private);
  const publicFile = path.join(dir, KEY_FILES.public);
  // Written beside the final name, then linked: link fails if the name exists, so two processes
  // making the stack's key at once end up with one key, and no reader sees a half-written file.
  const tmp = `${privateFile}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, privatePem, { mode: 0o600 });
  try {
    await link(tmp, privateFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`a private key is already at ${privateFile}; not overwritten`);
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  await writeFile(publicFile, publicPem, { mode: 0o644 });
  return { privateFile, publicFile, keyId: signingKeyFromPem(privatePem).keyId };
}

/** The local stack's private key file, made if missing. */
async function localStackKey(cfg: Config): Promise<string> {
  const dir = path.join(cfg.stackDir, 'keys');
  const file = path.join(dir, KEY_FILES.private);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeKeyPair(dir).catch((err: unknown) => {
    if (!(err instanceof UsageError)) throw err; // made by another process meanwhile
  });
  return await readFile(file, 'utf8');
}

const isPem = (s: string) => s.trimStart().startsWith('-----BEGIN');

/** PEM text of a setting: inline PEM, or the file it names. */
async function pemOf(setting: string, value: string): Promise<string> {
  if (isPem(value)) return value;
  try {
    return await readFile(value.trim(), 'utf8');
  } catch (err) {
    throw new ConfigError(
      setting,
      `cannot read key file ${JSON.stringify(value.trim())}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/** Runs `parse`, turning its error into a ConfigError on `setting` (its message holds no key material). */
function asConfig<T>(setting: string, what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ConfigError(setting, `${what}: ${err instanceof ShardcastError ? err.message : 'unreadable'}`);
  }
}

const noKey = (setting: string, what: string) =>
  new ConfigError(
    setting,
    `${what}; on a cluster given by KAFKA_BROKERS no key is made: \`shardcast keys generate --out DIR\` writes a pair`,
  );

/** The key that signs commands (decide, CLI). */
export async function loadSigningKey(cfg: Config): Promise<SigningKey> {
  const setting = ENV_KEYS.commandSigningKey;
  if (cfg.commandSigningKey) {
    const pem = await pemOf(setting, cfg.commandSigningKey);
    return asConfig(setting, 'expected an Ed25519 private key in PEM', () => signingKeyFromPem(pem));
  }
  if (cfg.external.kafka) throw noKey(setting, 'commands are signed: set an Ed25519 private key (PEM text or file)');
  const pem = await localStackKey(cfg);
  return asConfig(setting, `the local stack's key under ${cfg.stackDir}/keys`, () => signingKeyFromPem(pem));
}

/** The public keys executors accept, by key id; null when verification is off. */
export async function loadVerifyKeys(cfg: Config): Promise<VerifyKeys | null> {
  if (cfg.commandVerify === 'off') return null;
  const setting = ENV_KEYS.commandVerifyKeys;
  const keys = new Map<string, KeyObject>();
  if (cfg.commandVerifyKeys) {
    const value = cfg.commandVerifyKeys;
    // Inline PEM text may hold several keys; otherwise a comma-separated list of files.
    const pems = isPem(value)
      ? (value.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) ?? [])
      : await Promise.all(
          value
            .split(',')
            .filter((f) => f.trim() !== '')
            .map((f) => pemOf(setting, f)),
        );
    for (const pem of pems) {
      const k = asConfig(setting, 'expected Ed25519 public keys in PEM', () => verifyKeyFromPem(pem));
      keys.set(k.keyId, k.publicKey);
    }
    if (keys.size === 0) throw new ConfigError(setting, 'no key found');
    return keys;
  }
  if (cfg.external.kafka) throw noKey(setting, "executors verify commands: set the signers' public keys, or SHARDCAST_COMMAND_VERIFY=off");
  const pem = await localStackKey(cfg);
  const k = asConfig(setting, `the local stack's key under ${cfg.stackDir}/keys`, () => verifyKeyFromPem(pem));
  return new Map([[k.keyId, k.publicKey]]);
}
