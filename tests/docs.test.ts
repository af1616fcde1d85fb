/**
 * Every public export carries a doc comment on its declaration (what an editor shows on
 * hover), and the layers and ops carry an `@example`. One TypeScript Program over the
 * four package entries; aliases (re-exports) are followed to the declaration.
 */
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const ENTRIES = ['src/index.ts', 'src/experiment.ts', 'src/node.ts', 'src/wasm.ts'];

/** The layers and ops a model author calls directly: these need an `@example` too. */
const NEEDS_EXAMPLE = [
  'ConvOffset2D',
  'DeformConv2D',
  'deformConv2DFromConv2D',
  'deformSample',
  'deformConv2d',
  'batchNormTraining',
  'Conv2D',
  'BatchNormalization',
  'createAdam',
];

function loadProgram(): ts.Program {
  const configPath = path.join(ROOT, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT);
  // Only the entries as roots: the checker pulls in what they import.
  return ts.createProgram(
    ENTRIES.map((e) => path.join(ROOT, e)),
    { ...parsed.options, noEmit: true, declaration: false, sourceMap: false },
  );
}

interface Export {
  entry: string;
  /** The exported name; `ns.member` for the members of a namespace re-export. */
  name: string;
  /** The declaration's symbol (aliases resolved). */
  symbol: ts.Symbol;
  /** For `export * as ns from './m'`: that export statement, which carries ns's doc. */
  namespaceExport?: ts.ExportDeclaration;
}

function isModuleSymbol(symbol: ts.Symbol): boolean {
  return (symbol.getDeclarations() ?? []).some(ts.isSourceFile);
}

function entryExports(program: ts.Program, checker: ts.TypeChecker): Export[] {
  const out: Export[] = [];
  for (const entry of ENTRIES) {
    const file = program.getSourceFile(path.join(ROOT, entry));
    if (!file) throw new Error(`${entry} is not in the program`);
    const moduleSymbol = checker.getSymbolAtLocation(file);
    if (!moduleSymbol) throw new Error(`${entry} has no module symbol`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (!isModuleSymbol(symbol)) {
        out.push({ entry, name: exported.getName(), symbol });
        continue;
      }
      // A namespace re-export: an editor shows no doc for a module, so the export
      // statement documents the namespace, and each member its own declaration.
      const namespaceExport = exported.getDeclarations()?.find(ts.isNamespaceExport)?.parent;
      out.push({ entry, name: exported.getName(), symbol, namespaceExport });
      for (const member of checker.getExportsOfModule(symbol)) {
        const resolved =
          member.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(member) : member;
        out.push({ entry, name: `${exported.getName()}.${member.getName()}`, symbol: resolved });
      }
    }
  }
  return out;
}

/** The doc text of a symbol, or of its call signatures for a function (overloads included). */
function docText(symbol: ts.Symbol, checker: ts.TypeChecker): string {
  const own = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  if (own) return own;
  for (const decl of symbol.getDeclarations() ?? []) {
    if (ts.isFunctionDeclaration(decl)) {
      const sig = checker.getSignatureFromDeclaration(decl);
      const text = sig ? ts.displayPartsToString(sig.getDocumentationComment(checker)).trim() : '';
      if (text) return text;
    }
  }
  return '';
}

function hasExampleTag(symbol: ts.Symbol, checker: ts.TypeChecker): boolean {
  if (symbol.getJsDocTags(checker).some((t) => t.name === 'example')) return true;
  for (const decl of symbol.getDeclarations() ?? []) {
    if (ts.isFunctionDeclaration(decl)) {
      const sig = checker.getSignatureFromDeclaration(decl);
      if (sig?.getJsDocTags().some((t) => t.name === 'example')) return true;
    }
  }
  return false;
}

function where(symbol: ts.Symbol): string {
  const decl = symbol.getDeclarations()?.[0];
  if (!decl) return '?';
  const file = decl.getSourceFile();
  const { line } = file.getLineAndCharacterOfPosition(decl.getStart());
  return `${path.relative(ROOT, file.fileName)}:${line + 1}`;
}

describe('public API documentation', () => {
  const program = loadProgram();
  const checker = program.getTypeChecker();
  const exports = entryExports(program, checker);

  it('finds the exports of all four entries', () => {
    for (const entry of ENTRIES) {
      expect(exports.filter((e) => e.entry === entry).length, entry).toBeGreaterThan(0);
    }
    expect(exports.map((e) => e.name)).toEqual(expect.arrayContaining(NEEDS_EXAMPLE));
  });

  it('every exported symbol has a doc comment on its declaration', () => {
    const seen = new Set<ts.Symbol>();
    const missing: string[] = [];
    for (const { entry, name, symbol, namespaceExport } of exports) {
      if (namespaceExport) {
        const docs = ts.getJSDocCommentsAndTags(namespaceExport).filter(ts.isJSDoc);
        if (!docs.some((d) => ts.getTextOfJSDocComment(d.comment)?.trim())) {
          missing.push(`${name} (the \`export * as\` statement in ${entry})`);
        }
        continue;
      }
      if (seen.has(symbol)) continue;
      seen.add(symbol);
      if (!docText(symbol, checker)) missing.push(`${name} (${entry} -> ${where(symbol)})`);
    }
    expect(missing, `exports without a doc comment:\n  ${missing.join('\n  ')}`).toEqual([]);
  });

  it('the layers and ops have an @example', () => {
    const missing = NEEDS_EXAMPLE.filter((name) => {
      const found = exports.find((e) => e.name === name);
      return !found || !hasExampleTag(found.symbol, checker);
    });
    expect(missing, `without an @example: ${missing.join(', ')}`).toEqual([]);
  });
});
