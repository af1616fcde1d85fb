/**
 * The Markdown shipped with the package links only to files inside it: every link and
 * image target in README.md and docs/*.md is a relative path that exists in the
 * repository and that package.json's `files` puts in the npm tarball, so a link that
 * works on a clone also works on npm and offline. And the README stays a user's page:
 * short, one picture, no commit hashes (the lab notebook is docs/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');

/** README.md and every docs/*.md, relative to the repository root. */
function markdownFiles(): string[] {
  const docs = fs.existsSync(path.join(ROOT, 'docs'))
    ? fs
        .readdirSync(path.join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...docs.sort()];
}

/** The text without fenced code blocks and code spans, where link syntax means nothing. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Targets of inline links and images `[text](target "title")`, reference definitions `[id]: target`, and autolinks `<scheme:...>`. */
function linkTargets(markdown: string): string[] {
  const text = withoutCode(markdown);
  const targets: string[] = [];
  for (const m of text.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g)) {
    targets.push(m[1].replace(/^<|>$/g, ''));
  }
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm)) targets.push(m[1].replace(/^<|>$/g, ''));
  for (const m of text.matchAll(/<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s>]*)>/g)) targets.push(m[1]);
  return targets;
}

/** A glob of package.json's `files` as a regular expression over paths ('*' within a segment, '**' across directories). */
function globRegExp(glob: string): RegExp {
  const pattern = glob.replace(/^\.?\//, '').replace(/\/$/, '');
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (pattern.startsWith('**/', i)) {
      source += '(?:.*/)?'; // zero or more directories
      i += 2;
    } else if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern naming a directory takes everything under it, as npm does.
  return new RegExp(`^${source}(/.*)?$`);
}

/** Whether `file` (relative to the root) is in the tarball by `files`: matched by an entry and not excluded by a later '!' entry. */
function packedByFiles(file: string, files: readonly string[]): boolean {
  let packed = false;
  for (const entry of files) {
    if (entry.startsWith('!')) {
      if (globRegExp(entry.slice(1)).test(file)) packed = false;
    } else if (globRegExp(entry).test(file)) packed = true;
  }
  return packed;
}

describe('links in README.md and docs/*.md', () => {
  const files = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;

  it('the parser finds the kinds of links it checks', () => {
    const sample = '[a](x.md) ![b](docs/y.png "t") [c]: <z.md>\n`[no](code.md)`\n```\n[no](block.md)\n```\n<https://e.org>';
    expect(linkTargets(sample)).toEqual(['x.md', 'docs/y.png', 'https://e.org']);
    expect(linkTargets('[c]: ref.md')).toEqual(['ref.md']);
    expect(packedByFiles('docs/a.png', ['docs/*.png'])).toBe(true);
    expect(packedByFiles('docs/a/b.png', ['docs/*.png'])).toBe(false);
    expect(packedByFiles('dist/src/x.tsbuildinfo', ['dist/src', '!dist/src/**/*.tsbuildinfo'])).toBe(false);
  });

  for (const file of markdownFiles()) {
    it(`${file}: every target is a relative path that exists and is in the npm package`, () => {
      const problems: string[] = [];
      for (const target of linkTargets(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
        if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(target) || target.startsWith('//')) {
          problems.push(`${target}: not a relative path (links must resolve inside the package, offline)`);
          continue;
        }
        const local = decodeURIComponent(target.split('#')[0].split('?')[0]);
        if (local === '') continue; // a link to a heading of this page
        const resolved = path
          .relative(ROOT, path.resolve(ROOT, path.dirname(file), local))
          .split(path.sep)
          .join('/');
        if (resolved.startsWith('..') || path.isAbsolute(local)) {
          problems.push(`${target}: leaves the repository`);
        } else if (!fs.existsSync(path.join(ROOT, resolved))) {
          problems.push(`${target}: ${resolved} does not exist`);
        } else if (!packedByFiles(resolved, files)) {
          problems.push(`${target}: ${resolved} is not in package.json's "files", so not in the npm package`);
        }
      }
      expect(problems, `${file}:\n  ${problems.join('\n  ')}`).toEqual([]);
    });
  }
});

describe('README.md is for users', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  it('is under 200 lines, with one picture, and names no commit (measurement history lives in docs/)', () => {
    expect(readme.split('\n').length).toBeLessThan(200);
    expect([...readme.matchAll(/!\[[^\]]*\]\(/g)]).toHaveLength(1);
    // A commit hash: 7 to 40 hex digits with at least one letter and one digit.
    const hashes = [...readme.matchAll(/\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b/g)].map((m) => m[0]);
    expect(hashes).toEqual([]);
  });
});
