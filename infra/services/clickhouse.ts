/**
 * ClickHouse from the Debian package `clickhouse-server` (18.16 in Debian 12), run as our own
 * process — never the system service — with a generated config under <stackDir>/clickhouse:
 * HTTP on 127.0.0.1:8123 (config clickhouseUrl), native TCP on 127.0.0.1:9000, no interserver
 * port, data in <stackDir>/clickhouse/data, server log to the service log file.
 * Newer single-binary installs (`/usr/bin/clickhouse server`) work too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../lib/config.js';
import { CLICKHOUSE_HTTP_PORT, CLICKHOUSE_NATIVE_PORT, portOf } from '../ports.js';
import { httpGet, spawnService, which } from '../process.js';
import { logFileOf, stopOurs, withTimeout, type Log, type Service } from '../service.js';
import { aptInstall } from '../toolchain.js';
import { UnavailableError } from '../../lib/errors.js';

const NAME = 'clickhouse';

const httpPort = (cfg: Config) => portOf(cfg.clickhouseUrl, CLICKHOUSE_HTTP_PORT);
/** The native port follows the HTTP port: a stack on shifted ports shifts it too. */
const nativePort = (cfg: Config) => CLICKHOUSE_NATIVE_PORT + httpPort(cfg) - CLICKHOUSE_HTTP_PORT;

/** The server binary and the arguments that precede `--config-file`. */
function serverCommand(): { command: string; args: string[] } | null {
  const legacy = which('clickhouse-server');
  if (legacy) return { command: legacy, args: [] };
  const multi = which('clickhouse');
  if (multi) return { command: multi, args: ['server'] };
  return null;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function configXml(cfg: Config): string {
  const dir = path.join(cfg.stackDir, 'clickhouse');
  return `<?xml version="1.0"?>
<!-- Written by shardcast (infra/services/clickhouse.ts) on every start; edit that file instead. -->
<yandex>
    <logger>
        <level>information</level>
        <console>1</console>
        <errorlog>${xml(path.join(dir, 'clickhouse-server.err.log'))}</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>${httpPort(cfg)}</http_port>
    <tcp_port>${nativePort(cfg)}</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <shutdown_wait_unfinished>2</shutdown_wait_unfinished>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>${xml(path.join(dir, 'data'))}/</path>
    <tmp_path>${xml(path.join(dir, 'tmp'))}/</tmp_path>
    <user_files_path>${xml(path.join(dir, 'user_files'))}/</user_files_path>
    <format_schema_path>${xml(path.join(dir, 'format_schemas'))}/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
</yandex>
`;
}

export function usersXml(cfg: Config): string {
  const user = (name: string, password: string) => `        <${name}>
            <password>${xml(password)}</password>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </${name}>`;
  const users = [user('default', cfg.clickhouseUser === 'default' ? cfg.clickhousePassword : '')];
  if (cfg.clickhouseUser !== 'default' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(cfg.clickhouseUser)) {
    users.push(user(cfg.clickhouseUser, cfg.clickhousePassword));
  }
  return `<?xml version="1.0"?>
<!-- Written by shardcast (infra/services/clickhouse.ts) on every start; edit that file instead. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <log_queries>1</log_queries>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
${users.join('\n')}
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`;
}

export const clickhouse: Service = {
  name: NAME,
  startTimeoutMs: 60_000,
  installKind: 'os',
  endpoint: (cfg) => cfg.clickhouseUrl,
  isExternal: (cfg) => cfg.external.clickhouse,
  ports: (cfg) => [httpPort(cfg), nativePort(cfg)],
  logFile: (cfg) => logFileOf(cfg, NAME),

  async install(_cfg, log: Log) {
    if (serverCommand()) return;
    await aptInstall(['clickhouse-server', 'clickhouse-client'], 'clickhouse', log);
    if (!serverCommand())
      throw new UnavailableError('clickhouse: clickhouse-server is still not on PATH after apt-get install clickhouse-server');
  },

  async start(cfg) {
    const cmd = serverCommand();
    if (!cmd)
      throw new UnavailableError(
        'clickhouse: clickhouse-server not found; install the Debian package clickhouse-server (infra/install.sh)',
      );
    const dir = path.join(cfg.stackDir, 'clickhouse');
    for (const d of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(path.join(dir, d), { recursive: true });
    const config = path.join(dir, 'config.xml');
    writeFileSync(config, configXml(cfg));
    writeFileSync(path.join(dir, 'users.xml'), usersXml(cfg));
    await spawnService({
      name: NAME,
      command: cmd.command,
      args: [...cmd.args, `--config-file=${config}`],
      cwd: dir,
      stackDir: cfg.stackDir,
      logFile: this.logFile(cfg),
    });
  },

  async health(cfg) {
    try {
      const u = new URL(cfg.clickhouseUrl);
      u.pathname = '/';
      u.searchParams.set('query', 'SELECT 1');
      u.searchParams.set('user', cfg.clickhouseUser);
      if (cfg.clickhousePassword) u.searchParams.set('password', cfg.clickhousePassword);
      const res = await withTimeout(httpGet(u, 2500), 3000, 'clickhouse health');
      return res.status === 200 && res.body.trim() === '1';
    } catch {
      return false;
    }
  },

  async stop(cfg) {
    await stopOurs(cfg, NAME, { signals: ['SIGTERM', 'SIGKILL'], timeoutMs: 30_000 });
  },
};
