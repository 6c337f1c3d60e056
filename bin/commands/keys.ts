/**
 * `shardcast keys generate --out DIR [--json]`: writes a new Ed25519 key pair for signed
 * commands (command-signing.pem, readable by its owner only, for the decide stage and the CLI;
 * command-verify.pem for executors) and prints its key id and the settings that use it.
 */
import { writeKeyPair } from '../../lib/signingKeys.js';
import { ENV_KEYS } from '../../lib/config.js';

export async function keysGenerateCommand(o: { out: string; json?: boolean }): Promise<void> {
  const pair = await writeKeyPair(o.out);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(pair)}\n`);
    return;
  }
  process.stdout.write(
    [
      `key id ${pair.keyId}`,
      `private key ${pair.privateFile} (mode 600): decide and the CLI sign with ${ENV_KEYS.commandSigningKey}=${pair.privateFile}`,
      `public key  ${pair.publicFile}: executors verify with ${ENV_KEYS.commandVerifyKeys}=${pair.publicFile} (comma-separate several)`,
      '',
    ].join('\n'),
  );
}
