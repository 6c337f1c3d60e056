/**
 * The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against the running stack: every page renders data of a fresh table from ClickHouse, Neo4j,
 * PostgreSQL and Kafka; approving a waiting command with the keyboard reaches the executor, and
 * the page shows its outcome from the live feed; at desktop and phone width; no console errors.
 * Screenshots go to test-output/console/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { parseTokens } from '../../console/http/auth.js';
import { type RunningServer, startServer } from '../../console/http/server.js';
import { openOperations, type Operations } from '../../console/ops/operations.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { aptInstall } from '../../infra/toolchain.js';
import { CommandLedger } from '../../executors/ledger.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { testCommand } from './commands.js';
import { CAPACITY, type ConsoleFixture, openConsoleFixture } from './console-fixture.js';
import { uniq } from './helpers.js';

const CHROMIUM = process.env.SHARDCAST_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = 'test-output/console';
const OPERATOR = `o-${uniq('token')}-0123456789`;
const VIEWER = `v-${uniq('token')}-0123456789`;

let fx: ConsoleFixture;
let ops: Operations;
let server: RunningServer;
let browser: Browser;
let ledger: CommandLedger;
let adapter: PostgresShardAdapter;
let executor: NodeJS.Timeout | undefined;
const problems: string[] = [];

before(async () => {
  // as for the stack: the Debian package is installed when missing (as root), else a clear error
  if (!existsSync(CHROMIUM) && !process.env.SHARDCAST_CHROMIUM)
    await aptInstall(['chromium'], 'the console browser tests (Chromium)', (line) => console.log(line));
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: install the Debian package chromium (infra/install.sh does) or set SHARDCAST_CHROMIUM`);
  mkdirSync(SHOTS, { recursive: true });
  fx = await openConsoleFixture('browser');
  ledger = await CommandLedger.open(fx.cfg.pgNodes[0]!);
  ops = openOperations(fx.cfg, {
    log: pino({ level: 'silent' }),
    proposals: { decide: fx.decide, source: fx.source, nodeCapacity: CAPACITY, scope: fx.id },
  });
  server = await startServer({
    ops,
    tokens: parseTokens(`console-op:operator:${OPERATOR},console-viewer:viewer:${VIEWER}`),
    log: pino({ level: 'silent' }),
    port: 0,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  clearInterval(executor);
  await browser?.close();
  await server?.close();
  await ops?.close();
  await adapter?.close();
  await ledger?.close();
  await fx?.cleanup();
});

/** A page signed in with `token`; console errors are collected unless a refusal is what is tested. */
async function openPage(width: number, height: number, token = OPERATOR, collect = true): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on('console', (m) => {
    if (m.type() === 'error' && collect) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${server.url}/`);
  await page.fill('#token', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('nav[aria-label="Pages"]');
  return page;
}

async function visit(page: Page, route: string, ready: string, shot: string): Promise<void> {
  await page.goto(`${server.url}/#/${route}`);
  await page.waitForSelector(ready, { timeout: 30_000 });
  await page.waitForTimeout(300); // charts draw on the next frame
  await page.screenshot({ path: `${SHOTS}/${shot}.png`, fullPage: true });
}

test('every page renders data from the running stack, at 1280x800 and at phone width, without console errors', {
  timeout: 240_000,
}, async () => {
  const decision = testCommand('console-browser', fx.table, 'partition', 'split', {
    partition: 's1',
    explanation: `split ${fx.table}/s1 drawn by the browser test`,
    evidence: {
      seriesId: `${fx.source}|${fx.table}|k4`,
      currentLoad: 12,
      forecastPeak: 140,
      forecastLower: 120,
      forecastUpper: 160,
      peakAt: fx.now + 60_000,
      capacity: CAPACITY,
      model: 'test',
    },
  });
  await fx.recordCommand({ ...decision, issuedAt: fx.now - 30_000 });
  const page = await openPage(1280, 800);
  const q = `table=${fx.table}&source=${fx.source}`;

  await visit(page, 'stages', '#stages tbody tr:nth-child(6)', 'stages');
  await visit(page, 'proposals', `text=${fx.table}/s0`, 'proposals'); // also discovers the table into the catalog
  assert.ok(await page.isVisible('text=split'), 'the dry run proposes the split');
  await visit(page, `keyspace?${q}`, `text=drawn by the browser test`, 'keyspace');
  assert.ok((await page.locator('.chart canvas').count()) >= 1, 'the heatmap is drawn');
  // hovering an observed cell shows its numbers (the left quarter of the plot is observed windows)
  const box = (await page.locator('.chart').boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.25, box.y + 60);
  await page.waitForSelector('.chart >> text=/reads \\d+ · writes \\d+/', { timeout: 10_000 });
  await page.screenshot({ path: `${SHOTS}/keyspace-hover.png` });
  assert.match((await page.getAttribute('.chart', 'aria-label')) ?? '', /heatmap|key range/i);
  await visit(page, `nodes?${q}`, 'table.grid tbody tr:nth-child(2)', 'nodes');
  assert.deepEqual(await page.locator('table.grid tbody th').allTextContents(), ['node0', 'node1']);
  await visit(page, `decisions?${q}`, `text=drawn by the browser test`, 'decisions');
  await visit(page, `placement?${q}`, 'table.placement tbody tr:nth-child(2)', 'placement');
  assert.deepEqual(await page.locator('table.placement tbody th').allTextContents(), ['s0', 's1']);
  await visit(page, `lineage?${q}`, '.chart canvas', 'lineage');
  assert.ok(
    (await page.locator('details li').allTextContents()).some((t) => t.includes('PLACED_ON')),
    'the graph has placements',
  );

  const phone = await openPage(390, 844);
  await visit(phone, `keyspace?${q}`, 'text=drawn by the browser test', 'phone-keyspace');
  await visit(phone, 'approvals', '#recent-commands', 'phone-approvals');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page fits the phone's width (overflow ${overflow}px)`);
  await phone.close();
  assert.deepEqual(problems, [], 'no console errors');
});

test('approving a waiting command with the keyboard reaches the executor, and the page shows its outcome', {
  timeout: 180_000,
}, async () => {
  adapter = await PostgresShardAdapter.open(fx.cfg, { batchRows: 200, defaultGraceMs: 100 });
  const engine = new ExecutorEngine({
    executorName: 'console-browser-test',
    adapters: [adapter],
    ledger,
    emit: async () => undefined,
    bytesPerSecond: 1e12,
  });
  // as the execute stage does: act on operators' verdicts every second
  let settling = Promise.resolve(0);
  executor = setInterval(() => {
    settling = settling.then(() => engine.settleApprovals()).catch(() => 0);
  }, 1_000);
  const split = testCommand(
    'console-browser',
    fx.table,
    'partition',
    'split',
    { partition: 's0', requiresApproval: true },
    { splitAt: '500' },
  );
  assert.equal(await engine.run(split), 'ACCEPTED', 'the executor holds it for approval');

  const page = await openPage(1280, 800);
  await visit(page, 'approvals', `#approval-queue tr[data-command="${split.commandId}"]`, 'approvals-waiting');
  await page.focus(`#approval-queue tr[data-command="${split.commandId}"] button.approve`);
  await page.keyboard.press('Enter');
  const row = `#recent-commands tr[data-command="${split.commandId}"]`;
  await page.waitForSelector(`${row} .s-succeeded`, { timeout: 90_000 });
  await page.screenshot({ path: `${SHOTS}/approvals-done.png`, fullPage: true });
  assert.equal(await page.locator(`#approval-queue tr[data-command="${split.commandId}"]`).count(), 0, 'it left the queue');
  assert.match((await page.textContent(row)) ?? '', /approved by console-op/);
  const entry = await ledger.get(split.commandId);
  assert.deepEqual([entry?.status, entry?.approval], ['SUCCEEDED', 'approved'], 'the executor ran it');
  assert.deepEqual(problems, [], 'no console errors');
});

test('empty and refused states are explained; a viewer cannot decide; the keyboard reaches every page', { timeout: 120_000 }, async () => {
  const bad = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await bad.goto(`${server.url}/`);
  await bad.fill('#token', 'not-a-valid-token-at-all');
  await bad.keyboard.press('Enter');
  await bad.waitForSelector('[role=alert] >> text=The token is not accepted');
  await bad.screenshot({ path: `${SHOTS}/signin-refused.png` });
  await bad.close();

  const page = await openPage(1280, 800, VIEWER, false);
  await visit(page, `keyspace?table=no_such_table_${fx.id}`, 'text=No traffic recorded for', 'keyspace-empty');
  await visit(page, `lineage?table=no_such_table_${fx.id}`, '[role=alert] >> text=Not found', 'lineage-unknown');
  await visit(page, 'approvals', 'text=You are signed in as a viewer', 'approvals-viewer');
  assert.equal(
    await page.locator('button.approve:enabled, button.deny:enabled, button.stop:enabled').count(),
    0,
    'no verdict buttons for a viewer',
  );

  // keyboard: the first Tab reaches the skip link, then the navigation; Enter on a link opens its page
  await page.goto(`${server.url}/#/stages`);
  await page.waitForSelector('#stages');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the page');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Key space');
  await page.keyboard.press('Enter');
  await page.waitForSelector('h1 >> text=Key space');
  await page.close();
});
