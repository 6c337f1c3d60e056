/**
 * Schema registry: Apicurio Registry 3.0 (Quarkus), serving the Confluent-compatible API at
 * /apis/ccompat/v7 on 127.0.0.1:8081 (config schemaRegistryUrl).
 *
 * Package: io.apicurio:apicurio-registry-app:3.0.9:tar.gz:all from Maven Central (see
 * infra/registry/pom.xml for why that version), fetched with `mvn dependency:copy`, unpacked
 * into <stackDir>/lib/registry and run with `java -jar apicurio-registry-app-*-runner.jar`.
 * Storage: its built-in SQL storage on an H2 *file* under <stackDir>/registry, so schema ids
 * stay valid for the Kafka records that carry them across `stack down` / `up`.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../lib/config.js';
import { portOf, REGISTRY_PORT } from '../ports.js';
import { httpGet, run, spawnService } from '../process.js';
import { logFileOf, stopOurs, withTimeout, type Log, type Service } from '../service.js';
import { fileKey, INFRA_DIR, installOnce, javaBin, libDir, maven } from '../toolchain.js';
import { UnavailableError } from '../../lib/errors.js';

const NAME = 'registry';
const POM = path.join(INFRA_DIR, 'registry', 'pom.xml');

const registryPort = (cfg: Config) => portOf(cfg.schemaRegistryUrl, REGISTRY_PORT);

/** The runnable jar inside the unpacked distribution (legacy-jar runner or fast-jar layout). */
function runnerJar(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const runner = readdirSync(dir).find((f) => f.endsWith('-runner.jar'));
  if (runner) return path.join(dir, runner);
  const fast = path.join(dir, 'quarkus-run.jar');
  return existsSync(fast) ? fast : null;
}

export const registry: Service = {
  name: NAME,
  startTimeoutMs: 150_000,
  installKind: 'maven',
  endpoint: (cfg) => cfg.schemaRegistryUrl,
  isExternal: (cfg) => cfg.external.registry,
  ports: (cfg) => [registryPort(cfg)],
  logFile: (cfg) => logFileOf(cfg, NAME),

  async install(cfg, log: Log) {
    const out = libDir(cfg.stackDir, 'registry');
    const fetched = await installOnce(out, await fileKey(POM), async (tmp) => {
      log('registry: fetching Apicurio Registry with Maven (io.apicurio:apicurio-registry-app:tar.gz:all)');
      await maven(POM, ['dependency:copy'], tmp, 'registry install');
      const archive = path.join(tmp, 'apicurio-registry-app-all.tar.gz');
      await run('tar', ['-xzf', archive, '-C', tmp], { what: 'registry install (unpack)', timeoutMs: 300_000 });
      await rm(archive, { force: true });
      if (!runnerJar(tmp)) throw new UnavailableError(`registry install: no runnable jar found after unpacking ${archive}`);
    });
    if (fetched) log(`registry: unpacked in ${out}`);
  },

  async start(cfg) {
    const java = await javaBin();
    const jar = runnerJar(libDir(cfg.stackDir, 'registry'));
    if (!jar) throw new UnavailableError(`registry: no runnable jar in ${libDir(cfg.stackDir, 'registry')}; run install again`);
    const dir = path.join(cfg.stackDir, 'registry');
    mkdirSync(dir, { recursive: true });
    const db = path.join(dir, 'db', 'registry');
    const heap = (process.env.SHARDCAST_REGISTRY_HEAP ?? '-Xms64m -Xmx384m').split(/\s+/).filter(Boolean);
    await spawnService({
      name: NAME,
      command: java,
      args: [
        ...heap,
        '-XX:+UseSerialGC',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        '-Dquarkus.http.host=127.0.0.1',
        `-Dquarkus.http.port=${registryPort(cfg)}`,
        // Quarkus' management interface would default to port 9000 (ClickHouse's); keep it on loopback elsewhere.
        '-Dquarkus.management.host=127.0.0.1',
        `-Dquarkus.management.port=${registryPort(cfg) + 10}`,
        `-Dapicurio.datasource.url=jdbc:h2:file:${db}`,
        '-Dapicurio.datasource.jdbc.initial-size=2',
        '-Dapicurio.datasource.jdbc.min-size=2',
        '-Dapicurio.datasource.jdbc.max-size=20',
        // Let the ccompat API delete subjects and versions (tests clean up after themselves).
        '-Dapicurio.rest.deletion.artifact.enabled=true',
        '-Dapicurio.rest.deletion.artifact-version.enabled=true',
        '-Dapicurio.rest.deletion.group.enabled=true',
        '-jar',
        jar,
      ],
      cwd: dir,
      env: { ...process.env, QUARKUS_LOG_CATEGORY__IO_QUARKUS_HTTP_ACCESS_LOG__LEVEL: 'WARN' },
      stackDir: cfg.stackDir,
      logFile: this.logFile(cfg),
    });
  },

  async health(cfg) {
    try {
      const res = await withTimeout(httpGet(`${cfg.schemaRegistryUrl.replace(/\/+$/, '')}/subjects`, 2500), 3000, 'registry health');
      return res.status === 200 && Array.isArray(JSON.parse(res.body));
    } catch {
      return false;
    }
  },

  async stop(cfg) {
    await stopOurs(cfg, NAME, { signals: ['SIGTERM', 'SIGKILL'], timeoutMs: 30_000 });
  },
};
