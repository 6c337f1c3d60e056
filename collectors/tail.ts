/**
 * Follows PostgreSQL csvlog files: reads what was appended since the last call, up to the last
 * complete CSV record (a statement can span lines, so a record ends at a newline outside
 * quotes), and remembers the byte offset per file so a restart resumes where it stopped.
 */
import { open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Length of the prefix of `buf` made of complete CSV records. */
export function completeRecordsLength(buf: Buffer): number {
  let inQuotes = false;
  let end = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x22) inQuotes = !inQuotes;
    else if (c === 0x0a && !inQuotes) end = i + 1;
  }
  return end;
}

export class CsvLogTail {
  private offsets: Record<string, number> = {};

  constructor(
    private readonly dir: string,
    private readonly stateFile: string | null,
  ) {}

  async load(): Promise<void> {
    if (!this.stateFile) return;
    try {
      this.offsets = JSON.parse(await readFile(this.stateFile, 'utf8')) as Record<string, number>;
    } catch {
      this.offsets = {};
    }
  }

  /** Skips everything already in the files (start from now). */
  async skipExisting(): Promise<void> {
    for (const f of await this.files()) this.offsets[f] = (await stat(f)).size;
  }

  async save(): Promise<void> {
    if (this.stateFile) await writeFile(this.stateFile, JSON.stringify(this.offsets));
  }

  private async files(): Promise<string[]> {
    try {
      return (await readdir(this.dir))
        .filter((f) => f.endsWith('.csv'))
        .sort()
        .map((f) => path.join(this.dir, f));
    } catch {
      return [];
    }
  }

  /** New complete records of every log file, as text; offsets advance only past them. */
  async poll(maxBytes = 8 * 1024 * 1024): Promise<string> {
    let out = '';
    for (const file of await this.files()) {
      const size = (await stat(file)).size;
      let from = this.offsets[file] ?? 0;
      if (size < from) from = 0; // truncated or rotated in place
      if (size === from) continue;
      const fh = await open(file, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - from, maxBytes));
        const { bytesRead } = await fh.read(buf, 0, buf.length, from);
        const n = completeRecordsLength(buf.subarray(0, bytesRead));
        out += buf.subarray(0, n).toString('utf8');
        this.offsets[file] = from + n;
      } finally {
        await fh.close();
      }
    }
    return out;
  }
}
