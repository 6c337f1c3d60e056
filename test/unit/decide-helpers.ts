/** Hand-made cases for the decision engine tests. */
import type { Forecast } from '../../schemas/types.js';
import type { CatalogPlacement } from '../../processors/decide/postgres/state.js';
import {
  type ClusterStateInput,
  type DecideConfig,
  type LoadProfile,
  type Scenario,
  baselineScenario,
  buildLoadProfile,
  buildState,
  decideConfig,
} from '../../processors/decide/index.js';

export const GiB = 1024 ** 3;
export const NOW = 1_700_000_000_000;
export const STEP = 60_000;

export function fc(seriesId: string, values: number[], spread = 0): Forecast {
  return {
    seriesId,
    issuedAt: NOW,
    originTs: NOW,
    stepMs: STEP,
    metric: 'queries',
    model: 'hand',
    backend: null,
    recentError: null,
    intervalLevel: 0.9,
    points: values.map((v, h) => ({
      horizon: h + 1,
      ts: NOW + (h + 1) * STEP,
      predicted: v,
      lower: v * (1 - spread),
      upper: v * (1 + spread),
    })),
  };
}

export const flat = (v: number, n = 30) => Array<number>(n).fill(v);

/** Two nodes of capacity 1000, four 2 GiB partitions of table t over [0,400), p0..p2 on n1, p3 on n2. */
export function twoNodes(extra: Partial<ClusterStateInput> = {}): ClusterStateInput {
  return {
    tables: [{ name: 't', store: 'pg', storeKind: 'postgres', keyColumns: ['id'] }],
    nodes: [
      { id: 'n1', store: 'pg', capacity: 1000 },
      { id: 'n2', store: 'pg', capacity: 1000 },
    ],
    partitions: [0, 1, 2, 3].map((i) => ({
      id: `p${i}`,
      table: 't',
      store: 'pg',
      lo: i * 100,
      hi: (i + 1) * 100,
      sizeBytes: 2 * GiB,
      rows: 1e6,
      node: i < 3 ? 'n1' : 'n2',
    })),
    ...extra,
  };
}

/** Twelve 1 GiB partitions of table t over [0,1200), alternating over n1 and n2 (for a hot two-node cluster). */
export function twelvePartitions(): ClusterStateInput['partitions'] {
  return Array.from({ length: 12 }, (_, i) => ({
    id: `p${i}`,
    table: 't',
    store: 'pg',
    lo: i * 100,
    hi: (i + 1) * 100,
    sizeBytes: GiB,
    rows: 1e6,
    node: i % 2 ? 'n2' : 'n1',
  }));
}

export function scenario(
  input: ClusterStateInput,
  forecasts: Forecast[],
  cfgIn: Parameters<typeof decideConfig>[0] = {},
): { s: Scenario; profile: LoadProfile; cfg: DecideConfig; state: ReturnType<typeof buildState> } {
  const cfg = decideConfig(cfgIn);
  const state = buildState(input);
  const profile = buildLoadProfile(state, forecasts, [], NOW, cfg);
  return { s: baselineScenario(state, profile, cfg), profile, cfg, state };
}

/** The demo's catalog view: three nodes, `orders` in four key ranges of 25,000 rows, round-robin. */
export function demoView(bounds: readonly number[], capacity: number, commands: CatalogPlacement['commands'] = []): CatalogPlacement {
  const edges = [null, ...bounds, null];
  return {
    nodes: [0, 1, 2].map((i) => ({ name: `node${i}`, state: 'active', capacity, managed: false })),
    partitions: edges.slice(0, -1).map((lo, i) => ({
      table: 'orders',
      partition: `s${i}`,
      lo: lo === null ? null : String(lo),
      hi: edges[i + 1] === null ? null : String(edges[i + 1]),
      rows: 25_000,
      bytes: 3_145_728,
      node: `node${i % 3}`,
      replicas: [],
    })),
    commands,
  };
}
