/**
 * A round that follows another before the catalog lists the first round's commands must not
 * plan them again: the stage remembers what it issued (processors/decide/postgres/issued.ts) and
 * a scale-out still being provisioned counts as a node to come (its moves wait for it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../processors/decide/engine.js';
import { IssuedCommands } from '../../processors/decide/postgres/issued.js';
import {
  ISSUED_GRACE_MS,
  PG_STORE,
  type CatalogPlacement,
  commandHistory,
  issuedUntil,
  stateFromCatalog,
} from '../../processors/decide/postgres/state.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import { recentFromCommand } from '../../processors/decide/safety.js';
import type { AnyCommand } from '../../schemas/types.js';
import { NOW, demoView, fc } from './decide-helpers.js';

const STEP = 2_000;
const BOUNDS = [25_000, 50_000, 75_000];
const CAPACITY = 60;
const TABLES = { orders: { column: 'id', bounds: BOUNDS } };

const view = (commands: CatalogPlacement['commands'] = []) => demoView(BOUNDS, CAPACITY, commands);

function forecast(bucket: number, perWindow: number, now: number) {
  const f = fc(`${PG_STORE}|orders|k${bucket}`, Array<number>(6).fill(perWindow), 0.2);
  return { ...f, originTs: now, stepMs: STEP, points: f.points.map((p, h) => ({ ...p, ts: now + (h + 1) * STEP })) };
}

/** The demo's overload: node0 and node1 both far over capacity, so moving alone cannot help. */
const load = (now: number) => [650, 120, 30, 30].map((perWindow, bucket) => forecast(bucket, perWindow, now));

function round(now: number, issued: IssuedCommands): AnyCommand[] {
  const v = view();
  const state = stateFromCatalog({ ...v, commands: issued.addTo(v.commands, now) }, TABLES, PG_STORE, { capacity: CAPACITY, now });
  const cmds = toStoreCommands(decide(state, load(now), [], now, {}).commands, state);
  issued.remember(cmds);
  return cmds;
}

const targetOf = (c: AnyCommand) => `${c.action}:${recentFromCommand(c).target}`;

test('a second round before the catalog lists the first round commands plans none of them again', () => {
  const issued = new IssuedCommands();
  const first = round(NOW, issued);
  assert.ok(first.length >= 1, 'the overload gets a plan');
  const second = round(NOW + STEP, issued);
  const again = second.filter((c) => first.some((f) => targetOf(f) === targetOf(c)));
  assert.deepEqual(again.map(targetOf), [], 'the same change planned twice');
  assert.ok(
    second.every((c) => c.action !== 'scale_out' || !first.some((f) => f.action === 'scale_out')),
    `a second scale-out while the first provisions: ${second.map(targetOf).join(', ')}`,
  );
});

test('issued commands are forgotten once the view lists them or their deadline passes; other stores are not kept', () => {
  const issued = new IssuedCommands();
  const first = round(NOW, issued);
  assert.equal(issued.size, first.length);
  const listed = first.slice(0, 1).map((c) => ({ ...issued.addTo([], NOW).find((x) => x.id === c.commandId)!, status: 'RUNNING' }));
  const merged = issued.addTo(listed, NOW);
  assert.equal(merged.filter((c) => c.id === first[0]!.commandId).length, 1, 'listed once, by the view');
  assert.equal(issued.size, first.length - 1);
  const late = Math.max(...first.map(issuedUntil));
  assert.deepEqual(issued.addTo([], late), []);
  assert.equal(issued.size, 0);
  issued.remember([{ ...first[0]!, store: 'clickhouse' }]);
  assert.equal(issued.size, 0);
});

test('a node still being provisioned counts as capacity to come: not planned again, one scale-out fewer', () => {
  const now = NOW;
  const provisioning = {
    id: 'cmd-scale_out-earlier',
    action: 'scale_out',
    table: null,
    partition: null,
    sourceNode: null,
    targetNode: 'node3',
    status: 'ISSUED',
    issuedAt: now - STEP,
    resultTs: null,
    deadline: now + 600_000,
  };
  const plan = (commands: CatalogPlacement['commands']) => {
    const state = stateFromCatalog(view(commands), TABLES, PG_STORE, { capacity: CAPACITY, now });
    return toStoreCommands(decide(state, load(now), [], now, {}).commands, state);
  };
  const scaleOuts = (cmds: AnyCommand[]) => cmds.filter((c) => c.action === 'scale_out').map(targetOf);
  const without = scaleOuts(plan([]));
  assert.ok(without.length > 0, 'without a node under way the overload needs one');
  const cmds = plan([provisioning]);
  // the node under way is one of those the overload needs: one fewer is planned, never it again
  assert.ok(!scaleOuts(cmds).includes('scale_out:node3'), `planned: ${cmds.map(targetOf).join(', ')}`);
  assert.equal(scaleOuts(cmds).length, without.length - 1, `planned: ${cmds.map(targetOf).join(', ')}; without it: ${without}`);
});

test('a final result shows the command with its status (cooling its target down) until the view lists it', () => {
  const issued = new IssuedCommands();
  const [c] = round(NOW, issued);
  assert.ok(c);
  issued.observeResult({ commandId: c.commandId, status: 'RUNNING', ts: NOW + 1 });
  assert.equal(issued.addTo([], NOW + 2).find((x) => x.id === c.commandId)?.status, 'ISSUED', 'not final: still issued');
  issued.observeResult({ commandId: c.commandId, status: 'SUCCEEDED', ts: NOW + 3 });
  const shown = issued.addTo([], NOW + 4).find((x) => x.id === c.commandId);
  assert.deepEqual([shown?.status, shown?.resultTs], ['SUCCEEDED', NOW + 3]);
  // past its deadline it is still shown while the catalog's history would show it
  assert.ok(issued.addTo([], c.deadline + 1).some((x) => x.id === c.commandId));
  assert.ok(!issued.addTo([], NOW + 3 + 3_600_000).some((x) => x.id === c.commandId));
});

test('a command whose benefit starts at once (deadline = its round) stays in flight a window later, until the grace has passed', () => {
  const issued = new IssuedCommands();
  const c = round(NOW, issued)[0]!;
  assert.ok(c, 'the overload gets a plan');
  const atOnce = { ...c, issuedAt: NOW, deadline: NOW };
  const fresh = new IssuedCommands();
  fresh.remember([atOnce]);
  const next = fresh.addTo([], NOW + STEP);
  assert.deepEqual(
    next.map((x) => [x.id, x.status]),
    [[c.commandId, 'ISSUED']],
    'remembered a window later',
  );
  assert.deepEqual(
    commandHistory(next, NOW + STEP).inFlight!.map((f) => f.commandId),
    [c.commandId],
    'and in flight, so its target is not planned again',
  );
  assert.deepEqual(fresh.addTo([], NOW + ISSUED_GRACE_MS), [], 'forgotten once the grace has passed');
});
