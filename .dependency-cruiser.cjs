/**
 * The layering, checked by `npm run check:layers` (part of `npm test`); drawn in
 * docs/ARCHITECTURE.md. Each folder may import only the folders listed for it (and itself):
 * imports run from the flow's later stages to its earlier ones and to shared foundations.
 */
const LAYERS = {
  lib: [],
  schemas: ['lib'],
  topics: ['lib', 'schemas'],
  stores: ['lib', 'schemas'],
  models: ['lib', 'schemas'],
  processors: ['lib', 'schemas', 'models'],
  collectors: ['lib', 'schemas'],
  analytics: ['lib', 'schemas', 'stores'],
  catalog: ['lib', 'schemas', 'topics', 'stores'],
  executors: ['lib', 'schemas', 'topics', 'stores'],
  infra: ['lib', 'stores'],
  pipelines: ['lib', 'schemas', 'topics', 'stores', 'models', 'processors', 'collectors', 'analytics', 'catalog', 'executors'],
};
// The top of the drawing: each may use everything below it (the edges and the stages), and
// the ones listed before it.
const EDGES_AND_BELOW = [...LAYERS.pipelines, 'infra', 'pipelines'];
LAYERS.console = LAYERS.pipelines.concat('pipelines');
LAYERS.demo = [...EDGES_AND_BELOW, 'console'];
LAYERS.bench = [...LAYERS.demo, 'demo'];
LAYERS.bin = [...LAYERS.bench, 'bench'];

/** The pure stages inside processors/, in flow order: a stage imports only earlier ones. */
const STAGES = ['ingest', 'forecast', 'decide'];

const folders = Object.keys(LAYERS);
const layerRules = folders.map((from) => {
  const denied = folders.filter((f) => f !== from && !LAYERS[from].includes(f));
  return {
    name: `layer-${from}`,
    severity: 'error',
    comment: `${from}/ may import only ${LAYERS[from].join(', ') || 'nothing of the project'}`,
    from: { path: `^${from}/` },
    to: { path: `^(${denied.join('|')})/` },
  };
});
const stageRules = STAGES.map((stage, i) => ({
  name: `stage-${stage}`,
  severity: 'error',
  comment: `processors/${stage}/ may not import a later stage`,
  from: { path: `^processors/${stage}/` },
  to: { path: `^processors/(${STAGES.slice(i + 1).join('|') || '$^'})/` },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'import circles', from: {}, to: { circular: true } },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
    { name: 'no-tests-in-product', severity: 'error', from: { pathNot: '^test/' }, to: { path: '^test/' } },
    ...layerRules,
    ...stageRules.filter((r) => r.to.path !== '^processors/($^)/'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.stack|\\.git|test/fixtures)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
