/** `shardcast stack up | down | status`. */
import { loadConfig } from '../../lib/config.js';
import { formatStatus, stackDown, stackStatus, stackUp } from '../../infra/stack.js';

export async function stackCommand(action: 'up' | 'down' | 'status'): Promise<void> {
  const cfg = loadConfig();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (action === 'up') await stackUp(cfg, { log });
  else if (action === 'down') await stackDown(cfg, { log });
  process.stdout.write(`${formatStatus(await stackStatus(cfg))}\n`);
}
