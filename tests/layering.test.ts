/**
 * The shape of src/: imports run one way, down the stack, and the browser-safe entries
 * reach nothing that needs Node. Read from the sources as text, so a new upward import
 * fails here before anyone notices it in a bundle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '..', 'src');

/**
 * The stack, top to bottom. A module may import from its own folder and from folders
 * further down, never from one above or beside it.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['demo', 'web'],
  ['experiment'],
  ['training', 'reporting'],
  ['evaluation'],
  ['tracing'],
  ['models', 'augment', 'data'],
  ['layers', 'optimizers'],
  ['ops'],
  ['kernels'],
  ['backend', 'files'],
  ['version', 'errors'],
];

/** The package's entry points (src/<name>.ts): they gather the layers and are no layer themselves. */
const ENTRIES = ['index', 'experiment', 'node', 'wasm'];
const ENTRY = 'entry';

/** Packages the browser-safe entries may load at run time. */
const BROWSER_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  index: ['@tensorflow/tfjs'],
  experiment: ['@tensorflow/tfjs'],
  wasm: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm'],
  'web/demo_page': ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu'],
};

interface Import {
  specifier: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function importsOf(file: string): Import[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: Import[] = [];
  const statement = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const match of text.matchAll(statement)) found.push({ specifier: match[3], typeOnly: match[2] !== undefined });
  for (const match of text.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ specifier: match[1], typeOnly: false });
  return found;
}

/** The layer a module belongs to: its top folder under src/ (a file at src/ is its own name; an entry, 'entry'). */
function layerOf(file: string): string {
  const relative = path.relative(SRC, file);
  const parts = relative.split(path.sep);
  if (parts.length > 1) return parts[0];
  const name = path.basename(relative, '.ts');
  return ENTRIES.includes(name) ? ENTRY : name;
}

function rankOf(layer: string): number {
  return LAYERS.findIndex((tier) => tier.includes(layer));
}

function resolveRelative(from: string, specifier: string): string {
  const base = path.resolve(path.dirname(from), specifier);
  const candidates = [`${base}.ts`, path.join(base, 'index.ts')];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (found === undefined) throw new Error(`${path.relative(SRC, from)} imports '${specifier}', which is not a source file`);
  return found;
}

/** Every module a file loads at run time, transitively (type-only imports leave no trace in the JavaScript). */
function runtimeClosure(entry: string): { modules: Set<string>; packages: Map<string, string> } {
  const modules = new Set<string>();
  const packages = new Map<string, string>();
  const visit = (file: string): void => {
    if (modules.has(file)) return;
    modules.add(file);
    for (const { specifier, typeOnly } of importsOf(file)) {
      if (typeOnly) continue;
      if (specifier.startsWith('.')) visit(resolveRelative(file, specifier));
      else packages.set(specifier, path.relative(SRC, file));
    }
  };
  visit(entry);
  return { modules, packages };
}

const FILES = sourceFiles(SRC);

describe('src/ layering', () => {
  it('puts every module in a known layer', () => {
    const unknown = FILES.map(layerOf).filter((layer) => layer !== ENTRY && rankOf(layer) < 0);
    expect([...new Set(unknown)]).toEqual([]);
  });

  it('has no import that runs up or across the stack', () => {
    const violations: string[] = [];
    for (const file of FILES) {
      const from = layerOf(file);
      if (from === ENTRY) continue;
      for (const { specifier } of importsOf(file)) {
        if (!specifier.startsWith('.')) continue;
        const to = layerOf(resolveRelative(file, specifier));
        if (to === from) continue;
        if (to === ENTRY || rankOf(to) <= rankOf(from))
          violations.push(`${path.relative(SRC, file)} (${from}) imports ${specifier} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  for (const [entry, allowed] of Object.entries(BROWSER_PACKAGES)) {
    it(`keeps src/${entry}.ts browser-safe: it loads only ${allowed.join(', ')}`, () => {
      const { packages } = runtimeClosure(path.join(SRC, `${entry}.ts`));
      const foreign = [...packages].filter(([name]) => !allowed.includes(name)).map(([name, by]) => `${name} (from ${by})`);
      expect(foreign).toEqual([]);
    });
  }

  it('keeps the library entry free of the experiment', () => {
    const { modules } = runtimeClosure(path.join(SRC, 'index.ts'));
    const layers = new Set([...modules].map(layerOf));
    for (const layer of [
      'cli',
      'experiment',
      'training',
      'reporting',
      'evaluation',
      'tracing',
      'models',
      'augment',
      'data',
      'backend',
      'files',
    ]) {
      expect(layers.has(layer), `src/index.ts reaches ${layer}/`).toBe(false);
    }
  });
});
