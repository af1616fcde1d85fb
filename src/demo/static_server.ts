/**
 * A small static file server on Node's http, for the demo page and its models: it serves
 * the files under a few mounted directories and nothing else.
 *
 * Only GET and HEAD. A request path is decoded once and refused (404) if any segment is
 * '..' or '.', holds a NUL or a backslash, or is empty in the middle; the file it names
 * must exist, be a regular file, and still lie inside its mount's directory once symlinks
 * are resolved (403 otherwise), so no request reads a byte outside the mounts. A mount
 * may instead list its files by name, and then serves nothing else. Every answer
 * carries the cross-origin isolation headers that the wasm backend's threads need.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

/** A URL prefix served from a directory, or only a few named files. */
export interface Mount {
  /** Starts and ends with '/', e.g. '/' or '/models/regular/'. */
  prefix: string;
  /** The directory, or a function giving it at request time (a checkpoint's latest epoch moves on). */
  dir?: string | (() => string | undefined);
  /** Instead of a directory: just these files, by name. */
  files?: Readonly<Record<string, string>>;
}

export interface StaticServerOptions {
  mounts: readonly Mount[];
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface StaticServer {
  /** http://host:port/ */
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Headers on every answer: cross-origin isolation (SharedArrayBuffer for wasm threads), no sniffing, no caching of moving models. */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** What a request path resolves to: a file to send, or a status to answer with. */
type Resolution = { file: string } | { status: 400 | 403 | 404 };

/** Starts the server; resolves once it listens. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const mounts = [...options.mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  const server = http.createServer((request, response) => answer(mounts, request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(mounts: readonly Mount[], request: http.IncomingMessage, response: http.ServerResponse): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    send(response, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    return;
  }
  const resolution = resolveRequest(mounts, request.url ?? '/');
  if ('status' in resolution) {
    send(response, resolution.status, `${http.STATUS_CODES[resolution.status]}\n`);
    return;
  }
  const { size } = fs.statSync(resolution.file);
  response.writeHead(200, {
    ...COMMON_HEADERS,
    'Content-Type': CONTENT_TYPES[path.extname(resolution.file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  fs.createReadStream(resolution.file)
    .on('error', () => response.destroy())
    .pipe(response);
}

function send(response: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  response.end(body);
}

/** The file a request path names, inside one of the mounts, or why not. */
export function resolveRequest(mounts: readonly Mount[], url: string): Resolution {
  const rawPath = url.split(/[?#]/, 1)[0];
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { status: 400 };
  }
  if (!decoded.startsWith('/') || /[\0\\]/.test(decoded)) return { status: 404 };
  const mount = mounts.find((m) => decoded.startsWith(m.prefix) || `${decoded}/` === m.prefix);
  if (mount === undefined) return { status: 404 };
  const rest = decoded.slice(mount.prefix.length);
  const segments = rest === '' ? [] : rest.split('/');
  const trailing = segments.length > 0 && segments[segments.length - 1] === '';
  if (trailing) segments.pop();
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return { status: 404 };
  if (mount.files !== undefined) {
    // The server chose these files itself (no request names a path): serve them wherever their links point.
    const file = segments.length === 1 && Object.hasOwn(mount.files, segments[0]) ? mount.files[segments[0]] : undefined;
    return file !== undefined && isFile(file) ? { file } : { status: 404 };
  }
  const root = typeof mount.dir === 'function' ? mount.dir() : mount.dir;
  if (root === undefined) return { status: 404 };
  return containedFile(root, segments.length === 0 || trailing ? [...segments, 'index.html'] : segments);
}

/** root/segments if it is a regular file whose real path lies inside root's real path. */
function containedFile(root: string, segments: string[]): Resolution {
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    real = fs.realpathSync(path.join(realRoot, ...segments));
  } catch {
    return { status: 404 };
  }
  if (!real.startsWith(realRoot + path.sep)) return { status: 403 };
  return isFile(real) ? { file: real } : { status: 404 };
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
