/**
 * Toolchain helpers shared by the services: finding Java, fetching jars with Maven into
 * `<stackDir>/lib/<name>` (cached by a marker holding a hash of the inputs, so a warm run
 * needs neither Maven nor the network), and installing Debian packages with apt.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, which } from './process.js';
import type { Log } from './service.js';
import { UnavailableError } from '../lib/errors.js';

/** Directory of infra/ (where the poms and the Neo4j launcher live). */
export const INFRA_DIR = path.dirname(fileURLToPath(import.meta.url));

export const libDir = (stackDir: string, name: string) => path.join(stackDir, 'lib', name);

let javaCache: string | null = null;

/** The `java` binary (JAVA_HOME first), checked to be Java 17 or newer. */
export async function javaBin(): Promise<string> {
  if (javaCache) return javaCache;
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : null;
  const java = fromHome && existsSync(fromHome) ? fromHome : which('java');
  if (!java)
    throw new UnavailableError(
      'java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME',
    );
  const { stderr, stdout } = await run(java, ['-version'], { what: 'java', timeoutMs: 30_000 });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
  const major = m ? (Number(m[1]) === 1 ? Number(m[2]) : Number(m[1])) : 0;
  if (major < 17) throw new UnavailableError(`${java} is Java ${major || '?'}; the stack needs Java 17 or newer (set JAVA_HOME)`);
  javaCache = java;
  return java;
}

/** `javac` next to the chosen `java`. */
export async function javacBin(): Promise<string> {
  const java = await javaBin();
  const javac = path.join(path.dirname(java), 'javac');
  if (existsSync(javac)) return javac;
  const onPath = which('javac');
  if (onPath) return onPath;
  throw new UnavailableError('javac not found: install a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME');
}

export function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

const MARKER = '.shardcast-installed';

/** True when `dir` was filled from inputs hashing to `key`. */
export function isInstalled(dir: string, key: string): boolean {
  try {
    return readFileSync(path.join(dir, MARKER), 'utf8').trim() === key;
  } catch {
    return false;
  }
}

/**
 * Fills `outDir` once per input hash: runs `fill(tmpDir)` into a temporary sibling, writes the
 * marker and swaps it in, so an interrupted install never looks complete.
 */
export async function installOnce(outDir: string, key: string, fill: (tmpDir: string) => Promise<void>): Promise<boolean> {
  if (isInstalled(outDir, key)) return false;
  const tmp = `${outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    await writeFile(path.join(tmp, MARKER), `${key}\n`);
    await rm(outDir, { recursive: true, force: true });
    await rename(tmp, outDir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return true;
}

/** Runs Maven on `pom` with `goals` and `-DoutputDirectory=<out>`. */
export async function maven(pom: string, goals: string[], out: string, what: string): Promise<void> {
  const mvn = which('mvn');
  if (!mvn) throw new UnavailableError(`${what}: Maven (mvn) not found: install it (Debian: apt-get install maven)`);
  await javaBin();
  const buildDir = path.join(out, '.mvn-build');
  try {
    await run(
      mvn,
      ['-q', '-B', '-Dstyle.color=never', '-f', pom, ...goals, `-DoutputDirectory=${out}`, `-Dshardcast.buildDir=${buildDir}`],
      {
        what,
        timeoutMs: 15 * 60_000,
      },
    );
  } finally {
    await rm(buildDir, { recursive: true, force: true });
  }
}

/** Hash key of a pom (and any extra inputs) for `installOnce`. */
export async function fileKey(...files: string[]): Promise<string> {
  const parts = await Promise.all(files.map((f) => readFile(f)));
  return sha256(...parts);
}

/**
 * Installs missing OS packages by running infra/install.sh (apt-get, non-interactive, no
 * services started by the packages) when we are root; otherwise throws an error that says
 * what to install. `packages` are the ones the caller needs (named in that error).
 */
export async function aptInstall(packages: string[], what: string, log: Log): Promise<void> {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !which('apt-get')) {
    throw new UnavailableError(
      `${what}: missing; install the Debian packages: sudo apt-get install -y ${packages.join(' ')} (or run infra/install.sh as root)`,
    );
  }
  log(`${what}: installing OS packages with infra/install.sh (${packages.join(', ')} missing)`);
  await run('bash', [path.join(INFRA_DIR, 'install.sh')], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    what,
    timeoutMs: 30 * 60_000,
  });
}
