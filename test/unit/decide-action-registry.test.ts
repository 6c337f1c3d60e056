/**
 * The action registry is the one place that knows each action: command ids, related ids, flap
 * and move checks and a finished command's change to the view all come from its entries. The
 * outputs below are those of the hand-written switches the registry replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type Candidate,
  type ClusterState,
  type ClusterStateInput,
  DATA_MOVE_ACTIONS,
  PLACEMENT_ACTIONS,
  type PlacementAction,
  type PlannedOp,
  RECOMMENDATION_ACTIONS,
  applyCommand,
  applySafety,
  buildState,
  decideConfig,
  idTargetOf,
  recentFromCommand,
  relatedOf,
  requiresApproval,
} from '../../processors/decide/index.js';
import { MOVE_SLOT_ACTIONS } from '../../processors/decide/actions/common.js';
import { handMadeFields } from '../../schemas/handMadeCommand.js';
import type { AnyCommand } from '../../schemas/types.js';
import { NOW } from './decide-helpers.js';

const VIEW: ClusterStateInput = {
  tables: [{ name: 't', store: 'pg', storeKind: 'postgres', keyColumns: ['k'] }],
  nodes: ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id, store: 'pg', storeKind: 'postgres' as const, capacity: 100 })),
  partitions: [
    { id: 'p0', table: 't', store: 'pg', lo: null, hi: 100, sizeBytes: 1000, rows: 10, node: 'n1', seriesId: 's0' },
    { id: 'p1', table: 't', store: 'pg', lo: 100, hi: 200, sizeBytes: 3000, rows: 30, node: 'n1', replicas: ['n3'] },
    { id: 'p2', table: 't', store: 'pg', lo: 200, hi: null, sizeBytes: 5000, rows: 50, node: 'n2', replicas: ['n3'] },
  ],
};

const base = { ...handMadeFields(NOW, 600_000, 'test', 'x'), store: 'pg', storeKind: 'postgres' as const };
const part = (action: string, partition: string | null, params: Record<string, string>): AnyCommand =>
  ({ ...base, kind: 'partition', commandId: `c-${action}`, table: 't', partition, action, params }) as AnyCommand;
const shard = (
  action: string,
  partition: string,
  sourceNode: string | null,
  targetNode: string | null,
  params: Record<string, string> = {},
) => ({ ...base, kind: 'shard', commandId: `c-${action}`, table: 't', partition, sourceNode, targetNode, action, params }) as AnyCommand;
const res = (action: string, node: string | null, params: Record<string, string> = {}): AnyCommand =>
  ({ ...base, kind: 'resource', commandId: `c-${action}`, node, action, params }) as AnyCommand;

/** One line per table, node and partition (primary+replicas, bytes, rows, series), in view order. */
function lines(v: ClusterState): string[] {
  return [
    ...v.tables.map((t) => `table ${t.name}(${t.keyColumns.join(',')})`),
    ...v.nodes.map((n) => `node ${n.id} ${n.capacity}${n.status ? ` ${n.status}` : ''}`),
    ...v.partitions.map(
      (p) =>
        `${p.id} [${p.lo},${p.hi}) ${[p.node, ...(p.replicas ?? [])].join('+')} ${p.sizeBytes}B ${p.rows}r${p.seriesId ? ` ${p.seriesId}` : ''}`,
    ),
  ];
}

const BEFORE = [
  'table t(k)',
  'node n1 100',
  'node n2 100',
  'node n3 100',
  'node n4 100',
  'p0 [null,100) n1 1000B 10r s0',
  'p1 [100,200) n1+n3 3000B 30r',
  'p2 [200,null) n2+n3 5000B 50r',
];

/** A command of each kind, with the RecentAction it leaves and the lines of the view it changes. */
const CASES: { cmd: AnyCommand; target: string; related: string[]; removed: string[]; added: string[] }[] = [
  {
    cmd: part('split', 'p1', { splitAt: '150', leftId: 'p1a', rightId: 'p1b', leftFraction: '0.25' }),
    target: 'p1',
    related: ['p1a', 'p1b'],
    removed: ['p1 [100,200) n1+n3 3000B 30r'],
    added: ['p1a [100,150) n1+n3 750B 8r', 'p1b [150,200) n1+n3 2250B 22r'],
  },
  {
    cmd: part('merge', 'p1', { with: 'p0', mergedId: 'p01' }),
    target: 'p1',
    related: ['p0', 'p01'],
    removed: ['p0 [null,100) n1 1000B 10r s0', 'p1 [100,200) n1+n3 3000B 30r'],
    added: ['p01 [null,200) n1 4000B 40r'],
  },
  {
    cmd: shard('move', 'p0', 'n1', 'n2', { bytes: '1000' }),
    target: 'p0',
    related: [],
    removed: ['p0 [null,100) n1 1000B 10r s0'],
    added: ['p0 [null,100) n2 1000B 10r s0'],
  },
  {
    cmd: shard('colocate', 'p1', 'n1', 'n3', { bytes: '3000', with: 'p2' }),
    target: 'p1',
    related: [],
    removed: ['p1 [100,200) n1+n3 3000B 30r'],
    added: ['p1 [100,200) n3 3000B 30r'],
  },
  {
    cmd: shard('replicate', 'p0', 'n1', 'n4', { bytes: '1000' }),
    target: 'p0',
    related: [],
    removed: ['p0 [null,100) n1 1000B 10r s0'],
    added: ['p0 [null,100) n1+n4 1000B 10r s0'],
  },
  {
    cmd: shard('dereplicate', 'p2', null, 'n3'),
    target: 'p2',
    related: [],
    removed: ['p2 [200,null) n2+n3 5000B 50r'],
    added: ['p2 [200,null) n2 5000B 50r'],
  },
  { cmd: res('scale_out', null, { nodeId: 'n5', capacity: '250' }), target: 'n5', related: [], removed: [], added: ['node n5 250 active'] },
  { cmd: res('scale_in', 'n4'), target: 'n4', related: [], removed: ['node n4 100'], added: [] },
  {
    // the new shards start without replicas: the old shards' go with them (0139)
    cmd: part('rekey', null, { keyColumns: 'a,b', previousKey: 'k', share: '0.5' }),
    target: 't',
    related: [],
    removed: ['table t(k)', 'p1 [100,200) n1+n3 3000B 30r', 'p2 [200,null) n2+n3 5000B 50r'],
    added: ['table t(a,b)', 'p1 [100,200) n1 3000B 30r', 'p2 [200,null) n2 5000B 50r'],
  },
  { cmd: part('composite_index', null, { name: 'ix', columns: 'a,b' }), target: 't', related: [], removed: [], added: [] },
];

test('every placement action is one complete unit, issued as its command kind', () => {
  const kinds: Record<string, string> = {
    move: 'shard',
    split: 'partition',
    merge: 'partition',
    replicate: 'shard',
    dereplicate: 'shard',
    colocate: 'shard',
    scale_out: 'resource',
    scale_in: 'resource',
  };
  assert.deepEqual([...PLACEMENT_ACTIONS.keys()], Object.keys(kinds)); // the planner's search order
  for (const [name, a] of PLACEMENT_ACTIONS) {
    assert.equal(a.kind, kinds[name], name);
    for (const f of ['plan', 'idTarget', 'related', 'apply'] as const) assert.equal(typeof a[f], 'function', `${name}.${f}`);
    assert.equal(typeof a.movesData, 'boolean', name);
  }
  assert.deepEqual([...RECOMMENDATION_ACTIONS.keys()], ['rekey', 'composite_index', 'derived_attribute', 'precompute', 'repartition']);
});

test('flap, move, cooldown and baseline-order knowledge comes from the entries', () => {
  const reverses = [...PLACEMENT_ACTIONS].filter(([, a]) => a.reverses).map(([n, a]) => `${n}->${a.reverses}`);
  assert.deepEqual(reverses, ['merge->split', 'dereplicate->replicate', 'scale_in->scale_out']);
  assert.deepEqual([...DATA_MOVE_ACTIONS], ['move', 'replicate', 'colocate']);
  // the planners' slot count cannot import the registry: its copy must stay the same set
  assert.deepEqual([...MOVE_SLOT_ACTIONS].sort(), [...DATA_MOVE_ACTIONS].sort());
  assert.deepEqual(
    [...PLACEMENT_ACTIONS].filter(([, a]) => a.movesPrimary).map(([n]) => n),
    ['move', 'colocate'],
  );
  assert.deepEqual(
    [...PLACEMENT_ACTIONS].filter(([, a]) => a.noCooldown).map(([n]) => n),
    ['scale_out'],
  );
  assert.deepEqual(
    [...PLACEMENT_ACTIONS].filter(([, a]) => a.addsNode).map(([n]) => n),
    ['scale_out'],
  );
  const cfg = decideConfig({});
  for (const action of RECOMMENDATION_ACTIONS.keys()) assert.ok(requiresApproval({ action, store: 'pg', bytes: 0 }, cfg), action);
  assert.ok(!requiresApproval({ action: 'add_topic_partitions', store: 'pg', bytes: 0 }, cfg));
});

const op = (action: PlannedOp['action'], extra: Partial<PlannedOp>): PlannedOp => ({
  kind: 'shard',
  action,
  store: 'pg',
  storeKind: 'postgres',
  table: 't',
  partition: 'p0',
  sourceNode: 'n1',
  targetNode: 'n2',
  node: 'n4',
  params: {},
  bytes: 0,
  durationMs: 1000,
  startStep: 0,
  finishStep: 1,
  dependsOn: [],
  target: 'p0',
  ...extra,
});

test('command ids name the same target as before', () => {
  const got = [
    idTargetOf(op('split', { params: { splitAt: '50' } })),
    idTargetOf(op('merge', { params: { with: 'p1' } })),
    idTargetOf(op('move', {})),
    idTargetOf(op('colocate', {})),
    idTargetOf(op('replicate', {})),
    idTargetOf(op('dereplicate', { targetNode: 'n3' })),
    idTargetOf(op('scale_out', { params: { nodeId: 'n5' } })),
    idTargetOf(op('scale_in', {})),
    idTargetOf(op('rekey', { target: 't', params: { share: '0.5', keyColumns: 'a,b' } })),
  ];
  assert.deepEqual(got, [
    't/p0@50',
    't/p0+p1',
    't/p0:n1->n2',
    't/p0:n1->n2',
    't/p0:n1->n2',
    't/p0-n3',
    'pg/n5',
    'pg/n4',
    't/t/keyColumns=a,b&share=0.5',
  ]);
});

test('a command of each kind leaves the same recent action and view change as before', () => {
  const s = buildState(VIEW);
  assert.deepEqual(lines(s), BEFORE);
  for (const c of CASES) {
    const r = recentFromCommand(c.cmd);
    assert.equal(r.target, c.target, c.cmd.action);
    assert.deepEqual(r.related, c.related, c.cmd.action);
    assert.deepEqual(relatedOf({ action: c.cmd.action, params: c.cmd.params, target: r.target }), c.related, c.cmd.action);
    const after = lines(applyCommand(s, c.cmd));
    assert.deepEqual(
      { removed: BEFORE.filter((x) => !after.includes(x)), added: after.filter((x) => !BEFORE.includes(x)) },
      { removed: c.removed, added: c.added },
      c.cmd.action,
    );
  }
  // a split puts its halves where the partition was
  assert.deepEqual(
    applyCommand(s, CASES[0]!.cmd).partitions.map((p) => p.id),
    ['p0', 'p1a', 'p1b', 'p2'],
  );
});

test('commands that do not fit the view are refused with the same errors as before', () => {
  const s = buildState(VIEW);
  const refused: [AnyCommand, string][] = [
    [part('split', 'p1', { splitAt: '250' }), 'split: 250 is not inside p1'],
    [part('split', 'nope', { splitAt: '150' }), 'split: unknown partition nope'],
    [part('split', 'p1', { splitAt: 'x' }), 'parameter splitAt missing or not a number'],
    [part('merge', 'p0', { with: 'p2' }), 'merge: p0 and p2 are not neighbours'],
    [shard('move', 'p0', 'n2', 'n3'), 'move: p0 is on n1, not n2'],
    [shard('move', 'p0', 'n1', 'n9'), 'move: unknown node n9'],
    [shard('replicate', 'p1', 'n1', 'n3'), 'replicate: p1 already has a copy on n3'],
    [shard('dereplicate', 'p0', null, 'n2'), 'dereplicate: p0 has no replica on n2'],
    [res('scale_out', null, { nodeId: 'n1' }), 'scale_out: node n1 exists'],
    [res('scale_out', null, {}), 'scale_out: no nodeId'],
    [res('scale_in', 'n3'), 'scale_in: node n3 still holds 2 partition copies'],
  ];
  for (const [cmd, message] of refused) assert.throws(() => applyCommand(s, cmd), { name: 'StateError', message });
});

test('an action added to the registry is applied, related and flap-checked without other code knowing it', () => {
  // a made-up shard action: the primary moves to the target and keeps its replicas; it names
  // a partner partition and undoes a recent move of either
  const swap: PlacementAction<'shard'> = {
    kind: 'shard',
    plan: () => [],
    idTarget: (o) => `${o.table}/${o.partition}<->${o.targetNode}`,
    related: (params) => (params.with ? [params.with] : []),
    reverses: 'move',
    movesData: false,
    apply({ part: p, node, replace }, cmd) {
      const sp = p(cmd.partition);
      replace(sp.id, [{ ...sp, node: node(cmd.targetNode).id }]);
    },
  };
  const registry = PLACEMENT_ACTIONS as Map<string, PlacementAction>;
  registry.set('swap', swap as PlacementAction);
  try {
    const cmd = shard('swap', 'p2', 'n2', 'n4', { with: 'p1' });
    const s = buildState(VIEW);
    assert.deepEqual(lines(applyCommand(s, cmd)).at(-1), 'p2 [200,null) n4+n3 5000B 50r');
    assert.deepEqual(recentFromCommand(cmd).related, ['p1']);
    const o = op('swap' as PlannedOp['action'], { partition: 'p2', target: 'p2', params: { with: 'p1' } });
    assert.equal(idTargetOf(o), 't/p2<->n2');
    const cand: Candidate = { action: o.action, ops: [o], explanation: 'swap', run() {} };
    // a move of the partner 20 minutes ago: past the cooldown, inside the flap window
    const moved = buildState({ ...VIEW, recent: [{ commandId: 'm', action: 'move', target: 'p1', ts: NOW - 1_200_000 }] });
    const verdict = applySafety([cand], moved, NOW, decideConfig({}));
    assert.equal(verdict.allowed.length, 0);
    assert.match(verdict.blocked[0]!.reason, /^flap guard: swap would undo move/);
  } finally {
    registry.delete('swap');
  }
});
