/**
 * A second, throwaway Kafka broker for the secured-cluster tests: single-node KRaft on free
 * loopback ports in its own temp dir, its client listener SASL_SSL (SCRAM-SHA-256), with a CA
 * and a broker certificate made here with openssl. Started through the stack's own launcher
 * (infra/services/kafka.ts) and stopped by its pid.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isAlive, portOpen, stopPid, waitFor, type PidInfo } from '../../infra/process.js';
import { startBroker } from '../../infra/services/kafka.js';
import { libDir } from '../../infra/toolchain.js';
import { loadConfig, type Config } from '../../lib/config.js';
import { createKafka } from '../../topics/kafka.js';

const exec = promisify(execFile);

/** A port nothing listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export const secret = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;

/** A CA and a server certificate for 127.0.0.1 signed by it; the key encrypted when a password is given. */
export async function makeCertificates(dir: string, keyPassword?: string): Promise<{ ca: string; cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ossl = (args: string[]) => exec('openssl', args, { cwd: dir });
  await ossl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=shardcast-test-ca',
  ]);
  await ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(f('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await ossl([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('san.cnf'),
  ]);
  if (keyPassword === undefined) return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
  // Kafka reads an encrypted PKCS#8 key from a PEM keystore file (KIP-651)
  await ossl([
    'pkcs8',
    '-topk8',
    '-in',
    f('server.key'),
    '-v1',
    'PBE-SHA1-3DES',
    '-passout',
    `pass:${keyPassword}`,
    '-out',
    f('server.enc.key'),
  ]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.enc.key') };
}

export interface SecureBroker {
  dir: string;
  /** The CA file clients trust. */
  ca: string;
  port: number;
  user: string;
  password: string;
  pid: PidInfo;
  logFile: string;
  /** The client config for this broker (registry and the rest: the shared stack's). */
  config(overrides?: NodeJS.ProcessEnv): Config;
  stop(): Promise<void>;
}

export async function startSecureBroker(stackDir: string): Promise<SecureBroker> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-sasl-ssl-'));
  const keyPassword = secret('key');
  const certs = await makeCertificates(dir, keyPassword);
  const keystore = path.join(dir, 'keystore.pem');
  await writeFile(keystore, `${await readFile(certs.key, 'utf8')}${await readFile(certs.cert, 'utf8')}`, { mode: 0o600 });
  const [port, controllerPort] = [await freePort(), await freePort()];
  const user = 'shardcast-app';
  const password = secret('scram');
  const logFile = path.join(dir, 'kafka.log');
  const pid = await startBroker(
    {
      dir,
      port,
      controllerPort,
      secure: {
        keystorePem: keystore,
        keyPassword,
        truststorePem: certs.ca,
        mechanism: 'SCRAM-SHA-256',
        users: [
          { name: 'broker', password: secret('broker') },
          { name: user, password },
        ],
      },
    },
    { jarsDir: libDir(stackDir, 'kafka'), stackDir: dir, name: 'kafka-sasl-ssl', logFile, log: () => undefined },
  );
  const broker: SecureBroker = {
    dir,
    ca: certs.ca,
    port,
    user,
    password,
    pid,
    logFile,
    config: (overrides) => loadConfig({}, brokerEnv(broker, stackDir, overrides)),
    async stop() {
      await stopPid(pid.pid, { signals: ['SIGTERM', 'SIGKILL'], timeoutMs: 20_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    const alive = async () => ((await isAlive(pid.pid)) ? null : 'the broker exited');
    await waitFor(() => portOpen(port), 120_000, `SASL_SSL broker on 127.0.0.1:${port}`, alive, 500);
    await waitFor(
      async () => {
        const admin = createKafka(broker.config(), 'secure-broker-health').admin();
        try {
          await admin.connect();
          return (await admin.describeCluster()).brokers.length > 0;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      120_000,
      `SASL_SSL broker on 127.0.0.1:${port} (log ${logFile})`,
      alive,
      1000,
    );
  } catch (err) {
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
    await stopPid(pid.pid).catch(() => undefined);
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  return broker;
}

/** The env a child `shardcast` process gets to talk to this broker. */
export function brokerEnv(b: SecureBroker, stackDir: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SHARDCAST_STACK_DIR: stackDir,
    KAFKA_BROKERS: `127.0.0.1:${b.port}`,
    KAFKA_SSL_CA: b.ca,
    KAFKA_SASL_MECHANISM: 'scram-sha-256',
    KAFKA_SASL_USERNAME: b.user,
    KAFKA_SASL_PASSWORD: b.password,
    ...overrides,
  };
}
