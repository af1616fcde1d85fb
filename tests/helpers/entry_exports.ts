/**
 * The exports of the package's four entries (src/index.ts, ...), read with one TypeScript
 * Program over them (types included; aliases followed to the declaration). Shared by
 * tests/docs.test.ts (their doc comments) and tests/public_api.test.ts (docs/API.md).
 */
import * as path from 'node:path';
import ts from 'typescript';

export const ROOT = path.resolve(__dirname, '..', '..');
/** Each entry's source, keyed by the specifier an app imports it by. */
export const ENTRY_SOURCES: Readonly<Record<string, string>> = {
  deformconv: 'src/index.ts',
  'deformconv/experiment': 'src/experiment.ts',
  'deformconv/node': 'src/node.ts',
  'deformconv/wasm': 'src/wasm.ts',
};
export const ENTRIES = Object.values(ENTRY_SOURCES);

export function loadProgram(): ts.Program {
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

export interface Export {
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

export function entryExports(program: ts.Program, checker: ts.TypeChecker): Export[] {
  const out: Export[] = [];
  for (const entry of ENTRIES) {
    const file = program.getSourceFile(path.join(ROOT, entry));
    if (!file) throw new Error(`${entry} is not in the program`);
    const moduleSymbol = checker.getSymbolAtLocation(file);
    if (!moduleSymbol) throw new Error(`${entry} has no module symbol`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (!isModuleSymbol(symbol)) {
        out.push({ entry, name: exported.getName(), symbol });
        continue;
      }
      // A namespace re-export: an editor shows no doc for a module, so the export
      // statement documents the namespace, and each member its own declaration.
      const namespaceExport = exported.getDeclarations()?.find(ts.isNamespaceExport)?.parent;
      out.push({ entry, name: exported.getName(), symbol, namespaceExport });
      for (const member of checker.getExportsOfModule(symbol)) {
        const resolved = member.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(member) : member;
        out.push({ entry, name: `${exported.getName()}.${member.getName()}`, symbol: resolved });
      }
    }
  }
  return out;
}
