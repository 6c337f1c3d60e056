/*
 * Neo4j 5.26 Community launcher for the shardcast local stack.
 *
 * Starts an embedded DBMS (DatabaseManagementServiceBuilder) with only the Bolt connector
 * enabled, auth on, and the `neo4j` user's password set from the environment; then waits until
 * SIGTERM/SIGINT, when a shutdown hook stops the DBMS cleanly (checkpoint, store unlocked).
 *
 * Compiled by infra/services/neo4j.ts with `javac -cp '<stackDir>/lib/neo4j/*'` into
 * <stackDir>/lib/neo4j-launcher and run with `java -cp '<launcher>:<stackDir>/lib/neo4j/*'
 * Launcher`. Environment:
 *   NEO4J_HOME        data home (databases, transaction logs, logs)       required
 *   NEO4J_BOLT_HOST   Bolt listen host                                     default 127.0.0.1
 *   NEO4J_BOLT_PORT   Bolt listen port                                     default 7687
 *   NEO4J_PASSWORD    password of user `neo4j` (at least 8 characters)     required
 *   NEO4J_PAGECACHE   page cache size in bytes                             default 64 MiB
 * Prints "shardcast-neo4j: ready bolt://host:port" on stdout once Bolt accepts connections.
 */

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

public final class Launcher {
    private Launcher() {}

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            if (fallback == null) {
                System.err.println("shardcast-neo4j: environment variable " + name + " is required");
                System.exit(2);
            }
            return fallback;
        }
        return v;
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(env("NEO4J_HOME", null)).toAbsolutePath();
        String host = env("NEO4J_BOLT_HOST", "127.0.0.1");
        int port = Integer.parseInt(env("NEO4J_BOLT_PORT", "7687"));
        String password = env("NEO4J_PASSWORD", null);
        long pageCache = Long.parseLong(env("NEO4J_PAGECACHE", String.valueOf(64L * 1024 * 1024)));
        Files.createDirectories(home);

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(BoltConnector.thread_pool_max_size, 100)
                // Defaults are 5 s each, which makes a clean SIGTERM take over 10 s.
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("shardcast-neo4j: shutting down");
            System.out.flush();
            try {
                dbms.shutdown();
            } catch (Throwable t) {
                System.err.println("shardcast-neo4j: shutdown failed: " + t);
            }
            System.out.println("shardcast-neo4j: stopped");
            System.out.flush();
            stopped.countDown();
        }, "shardcast-neo4j-shutdown"));

        setPassword(dbms, password);
        System.out.println("shardcast-neo4j: ready bolt://" + host + ":" + port);
        System.out.flush();
        stopped.await();
    }

    /**
     * Makes the `neo4j` user's password the configured one (and not "change required"). Runs
     * through the embedded API on the system database, which needs no credentials. Setting the
     * same password again is refused by Neo4j; that case is fine.
     */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PLAINTEXT PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
            System.out.println("shardcast-neo4j: password of user neo4j set from NEO4J_PASSWORD");
        } catch (RuntimeException e) {
            String msg = String.valueOf(e.getMessage());
            if (msg.contains("cannot be the same")) {
                // Same password: still make sure no change is required on first login.
                system.executeTransactionally("ALTER USER neo4j SET PASSWORD CHANGE NOT REQUIRED");
            } else {
                throw e;
            }
        }
    }
}
