/**
 * Neo4j 5.26 LTS Community, embedded in a small launcher (infra/neo4j/Launcher.java) with only
 * the Bolt connector on 127.0.0.1:7687 (config neo4jUri), auth on, the `neo4j` user's password
 * set from config neo4jPassword on every start, HTTP off.
 *
 * Jars: infra/neo4j/pom.xml (org.neo4j:neo4j) → <stackDir>/lib/neo4j; the launcher is compiled
 * with javac into <stackDir>/lib/neo4j-launcher. Data and Neo4j's own logs (debug.log,
 * query.log): <stackDir>/neo4j. SIGTERM runs the launcher's shutdown hook (clean shutdown).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../lib/config.js';
import { NEO4J_BOLT_PORT, portOf } from '../ports.js';
import { run, spawnService } from '../process.js';
import { logFileOf, stopOurs, withTimeout, type Log, type Service } from '../service.js';
import { fileKey, INFRA_DIR, installOnce, javaBin, javacBin, libDir, maven } from '../toolchain.js';

const NAME = 'neo4j';
const POM = path.join(INFRA_DIR, 'neo4j', 'pom.xml');
const LAUNCHER = path.join(INFRA_DIR, 'neo4j', 'Launcher.java');

const boltPort = (cfg: Config) => portOf(cfg.neo4jUri, NEO4J_BOLT_PORT);

export const neo4j: Service = {
  name: NAME,
  startTimeoutMs: 180_000,
  installKind: 'maven',
  endpoint: (cfg) => cfg.neo4jUri,
  isExternal: (cfg) => cfg.external.neo4j,
  ports: (cfg) => [boltPort(cfg)],
  logFile: (cfg) => logFileOf(cfg, NAME),

  async install(cfg, log: Log) {
    const jars = libDir(cfg.stackDir, 'neo4j');
    const jarsKey = await fileKey(POM);
    if (
      await installOnce(jars, jarsKey, async (tmp) => {
        log('neo4j: fetching jars with Maven (org.neo4j:neo4j)');
        await maven(POM, ['dependency:copy-dependencies'], tmp, 'neo4j install');
      })
    ) {
      log(`neo4j: jars in ${jars}`);
    }
    const classes = libDir(cfg.stackDir, 'neo4j-launcher');
    await installOnce(classes, `${jarsKey}:${await fileKey(LAUNCHER)}`, async (tmp) => {
      log('neo4j: compiling infra/neo4j/Launcher.java');
      await run(await javacBin(), ['-nowarn', '-cp', `${jars}/*`, '-d', tmp, LAUNCHER], {
        what: 'neo4j launcher compile',
        timeoutMs: 300_000,
      });
    });
  },

  async start(cfg) {
    const java = await javaBin();
    const home = path.join(cfg.stackDir, 'neo4j');
    mkdirSync(home, { recursive: true });
    const heap = (process.env.SHARDCAST_NEO4J_HEAP ?? '-Xms128m -Xmx512m').split(/\s+/).filter(Boolean);
    await spawnService({
      name: NAME,
      command: java,
      args: [
        ...heap,
        '-XX:+UseG1GC',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        '-Dio.netty.tryReflectionSetAccessible=true',
        '--add-opens=java.base/java.nio=ALL-UNNAMED',
        '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
        '--add-opens=java.base/java.lang=ALL-UNNAMED',
        '-cp',
        `${libDir(cfg.stackDir, 'neo4j-launcher')}:${libDir(cfg.stackDir, 'neo4j')}/*`,
        'Launcher',
      ],
      cwd: home,
      env: {
        ...process.env,
        NEO4J_HOME: home,
        NEO4J_BOLT_HOST: '127.0.0.1',
        NEO4J_BOLT_PORT: String(boltPort(cfg)),
        NEO4J_PASSWORD: cfg.neo4jPassword,
        NEO4J_PAGECACHE: String(64 * 1024 * 1024),
      },
      stackDir: cfg.stackDir,
      logFile: this.logFile(cfg),
    });
  },

  async health(cfg) {
    const { default: neo4jDriver } = await import('neo4j-driver');
    const driver = neo4jDriver.driver(cfg.neo4jUri, neo4jDriver.auth.basic(cfg.neo4jUser, cfg.neo4jPassword), {
      connectionTimeout: 2000,
      connectionAcquisitionTimeout: 2500,
      maxConnectionPoolSize: 1,
      logging: { level: 'error', logger: () => undefined },
    });
    // A plain session.run (not executeQuery, which retries for up to 30 s): one quick answer.
    const session = driver.session();
    try {
      const res = await withTimeout(session.run('RETURN 1 AS ok'), 4000, 'neo4j health');
      return Number(res.records[0]?.get('ok')) === 1;
    } catch {
      return false;
    } finally {
      await withTimeout(
        session.close().finally(() => driver.close()),
        1000,
        'neo4j close',
      ).catch(() => undefined);
    }
  },

  async stop(cfg) {
    // The shutdown hook checkpoints both databases; allow for it before SIGKILL.
    await stopOurs(cfg, NAME, { signals: ['SIGTERM', 'SIGKILL'], timeoutMs: 60_000 });
  },
};
