/**
 * The fault suite's own stack: the same services on ports shifted by `portShift` (config
 * `SHARDCAST_FAULTS_PORT_SHIFT`, default 10000, so several users can each run one), in its own
 * stack directory, so killing its servers never touches the stack other users run. Jars and
 * binaries are shared with the main stack when it has them (its lib/ is linked, not copied).
 * Only what this suite started is stopped, by the pid files of its own directory.
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type Config } from '../../lib/config.js';
import { ourProcess } from '../../infra/service.js';
import { stackDown, stackUp } from '../../infra/stack.js';
import { StateError } from '../../lib/errors.js';

/** The services a fault row needs (names as infra/stack.ts knows them). */
export type ServiceName = 'kafka' | 'registry' | 'clickhouse' | 'neo4j' | `pg-node${number}`;

/** The private stack's config: every endpoint on the shifted port, nothing external. */
export function privateConfig(stackDir: string, portShift: number): Config {
  const p = (port: number) => port + portShift;
  return loadConfig(
    {
      kafkaBrokers: `127.0.0.1:${p(9092)}`,
      schemaRegistryUrl: `http://127.0.0.1:${p(8081)}/apis/ccompat/v7`,
      clickhouseUrl: `http://127.0.0.1:${p(8123)}`,
      neo4jUri: `bolt://127.0.0.1:${p(7687)}`,
      pgBasePort: p(5433),
      stackDir,
      logLevel: 'warn',
    },
    {},
  );
}

/** The environment that points a child `shardcast` process at the private stack. */
export function childEnv(cfg: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: cfg.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: cfg.schemaRegistryUrl,
    CLICKHOUSE_URL: cfg.clickhouseUrl,
    NEO4J_URI: cfg.neo4jUri,
    PG_NODES: cfg.pgNodes.join(','),
    SHARDCAST_STACK_DIR: cfg.stackDir,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/**
 * Every run starts from empty servers (a topic still holding an earlier run's later events would
 * make this run's events late): the data of a stack none of whose services run is removed; the
 * jars (lib/) and the signing keys stay.
 */
async function wipeUnlessRunning(cfg: Config, services: readonly ServiceName[]): Promise<void> {
  for (const s of services) if (await ourProcess(cfg, s)) return;
  const entries = await readdir(cfg.stackDir).catch(() => [] as string[]);
  for (const e of entries) if (e !== 'lib' && e !== 'keys') await rm(path.join(cfg.stackDir, e), { recursive: true, force: true });
}

export class PrivateStack {
  private constructor(
    readonly cfg: Config,
    private readonly log: (line: string) => void,
  ) {}

  /** Brings `services` up in the private stack directory (idempotent). */
  static async open(
    stackDir: string,
    portShift: number,
    services: readonly ServiceName[],
    log: (line: string) => void,
    sharedLib?: string,
  ): Promise<PrivateStack> {
    const cfg = privateConfig(stackDir, portShift);
    await wipeUnlessRunning(cfg, services);
    mkdirSync(cfg.stackDir, { recursive: true });
    const lib = path.join(cfg.stackDir, 'lib');
    if (sharedLib && existsSync(sharedLib) && !existsSync(lib)) symlinkSync(path.resolve(sharedLib), lib);
    const stack = new PrivateStack(cfg, log);
    await stack.up(services);
    return stack;
  }

  /** Starts whichever of `services` is down (a killed one included). */
  async up(services: readonly ServiceName[]): Promise<void> {
    await stackUp(this.cfg, { only: services, log: (l) => this.log(`  stack: ${l}`) });
  }

  /** Sends `signal` to a service this suite started; returns its pid. */
  async signal(service: ServiceName, signal: NodeJS.Signals): Promise<number> {
    const p = await ourProcess(this.cfg, service);
    if (!p) throw new StateError(`${service} of the fault stack is not running`);
    process.kill(p.pid, signal);
    return p.pid;
  }

  /** SIGKILLs a service and waits until its process is gone. */
  async kill(service: ServiceName): Promise<void> {
    const pid = await this.signal(service, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await sleep(100);
    }
    throw new StateError(`${service} (pid ${pid}) did not exit after SIGKILL`);
  }

  /** Stops every service of the private stack (only ours, by pid file). */
  async close(): Promise<void> {
    await stackDown(this.cfg, { log: (l) => this.log(`  stack: ${l}`) });
  }
}
