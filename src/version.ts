/**
 * The deformconv package's own folder and version, from its package.json (found by
 * walking up from this file, which sits at a different depth in src/ and in the
 * compiled dist/src/).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

interface PackageInfo {
  root: string;
  version: string;
}

let cached: PackageInfo | null | undefined;

function packageInfo(): PackageInfo | null {
  if (cached !== undefined) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'deformconv' && pkg.version !== undefined) return (cached = { root: dir, version: pkg.version });
    }
    if (path.dirname(dir) === dir) return (cached = null);
  }
}

/** The installed deformconv's version from its package.json, or 'unknown' when none is found. */
export function deformconvVersion(): string {
  return packageInfo()?.version ?? 'unknown';
}

/** The folder holding deformconv's package.json (the repository root in a checkout). */
export function packageRoot(): string {
  const info = packageInfo();
  if (info === null) throw new Error(`no deformconv package.json above ${__dirname}`);
  return info.root;
}
