/** The ClickHouse client, shared by the sink, analytics, the catalog's discovery and the executor. */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../../lib/config.js';
import { libraryLogClass } from '../../lib/log.js';

export type { ClickHouseClient };

/** The application name shardcast's clients send (their user agent starts with it), so its own queries are not telemetry. */
export const SHARDCAST_CLICKHOUSE_APP = 'shardcast';

export function createClickHouse(cfg: Pick<Config, 'clickhouseUrl' | 'clickhouseUser' | 'clickhousePassword'>): ClickHouseClient {
  return createClient({
    url: cfg.clickhouseUrl,
    application: SHARDCAST_CLICKHOUSE_APP,
    username: cfg.clickhouseUser,
    password: cfg.clickhousePassword,
    request_timeout: 60_000,
    compression: { request: false, response: false },
    log: { LoggerClass: libraryLogClass('clickhouse') },
    // a busy event loop (a benchmark producing, a large batch decoding) can miss the idle-socket
    // timer; a socket the server has closed then fails the next insert with EPIPE
    keep_alive: { eagerly_destroy_stale_sockets: true },
  });
}
