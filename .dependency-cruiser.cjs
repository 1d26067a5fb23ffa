// The layer rules of src/ (README: Architecture): `npm run depcheck`.
// Each tier may import the tiers below it, never a tier above it nor a sibling in its own tier.
// Tests (*.test.ts) and src/testing/ may import across tiers; nothing else imports them.
const TIERS = [
  ['index.ts'],
  ['cli'],
  ['ui'],
  ['review'],
  ['workflows', 'explore'],
  ['fit', 'inference', 'report', 'export', 'shard'],
  ['features', 'explain'],
  ['run'],
  ['augment'],
  ['data', 'applications'],
  ['ortTraining'],
  ['ort'],
  ['onnx'],
  ['layers'],
  ['tfjs'],
  ['weights'],
  ['io'],
  ['errors.ts', 'version.ts'],
];

const TEST = '\\.test\\.ts$';
/** `src/<name>`: a folder (anything under it) or a file of src/ itself. */
const place = (name) => (name.endsWith('.ts') ? `src/${name.replace('.', '\\.')}$` : `src/${name}/`);
const anyOf = (names) => `^(${names.map(place).join('|')})`;

const layerRules = TIERS.flatMap((tier, i) =>
  tier.map((name) => {
    const banned = [...TIERS.slice(0, i).flat(), ...tier.filter((n) => n !== name)];
    return banned.length === 0
      ? undefined
      : {
          name: `layer-${name.replace('.ts', '')}`,
          comment: `src/${name} may import only from the tiers below it: not ${banned.join(', ')}.`,
          severity: 'error',
          from: { path: `^${place(name)}`, pathNot: TEST },
          to: { path: anyOf(banned) },
        };
  }),
).filter(Boolean);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Modules of src/ import each other in a cycle (type-only imports count too).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-testing',
      comment: 'src/testing/ holds test fixtures (left out of the build): only tests may import it.',
      severity: 'error',
      from: { path: '^src/', pathNot: [TEST, '^src/testing/'] },
      to: { path: '^src/testing/' },
    },
    {
      name: 'not-to-test',
      comment: 'Nothing imports a test file.',
      severity: 'error',
      from: {},
      to: { path: TEST },
    },
    {
      name: 'ui-page-browser',
      comment: 'src/ui/page/ runs in the browser: besides its own modules, only the types of ui/protocol.ts.',
      severity: 'error',
      from: { path: '^src/ui/page/', pathNot: TEST },
      to: { path: '^src/', pathNot: ['^src/ui/page/', '^src/ui/protocol\\.ts$'] },
    },
    {
      name: 'ui-page-protocol-types',
      comment: 'The page and ui/protocol.ts import types only, so no server code reaches the browser.',
      severity: 'error',
      from: { path: ['^src/ui/page/', '^src/ui/protocol\\.ts$'], pathNot: TEST },
      to: { path: '^src/', pathNot: '^src/ui/page/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-dev-dep',
      comment: 'What the package ships may not need a devDependency (users do not install them).',
      severity: 'error',
      from: { path: '^src/', pathNot: [TEST, '^src/testing/'] },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'layer-missing',
      comment: 'A module of src/ outside every tier: give its folder a place in TIERS.',
      severity: 'error',
      from: { path: '^src/', pathNot: [anyOf(TIERS.flat()), '^src/testing/', TEST] },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are imports too: they tie the layers together as much as the others.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
