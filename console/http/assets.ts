/**
 * The web UI's files, served by the API's server: the project's own under `ui/` and the vendor
 * modules (preact, htm, echarts) read from the installed packages, so nothing is fetched from a
 * CDN or downloaded at run time. Files are read once and kept; paths outside the list are 404.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const UI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** URL → file in an installed package (the ESM build each one ships). */
const VENDOR: Record<string, [pkg: string, file: string]> = {
  '/vendor/preact.js': ['preact', 'dist/preact.module.js'],
  '/vendor/preact-hooks.js': ['preact', 'hooks/dist/hooks.module.js'],
  '/vendor/htm.js': ['htm', 'dist/htm.module.js'],
  '/vendor/echarts.js': ['echarts', 'dist/echarts.esm.min.mjs'],
};

/** The page's import map: bare names the UI's modules import → the vendor URLs above. */
export const IMPORT_MAP = JSON.stringify({
  imports: { preact: '/vendor/preact.js', 'preact/hooks': '/vendor/preact-hooks.js', htm: '/vendor/htm.js', echarts: '/vendor/echarts.js' },
});

export interface Asset {
  type: string;
  body: Buffer;
  /** Vendor files are versioned by the package: cache them; the UI's own files are revalidated. */
  immutable: boolean;
}

/** A file of an installed package (found from its entry point: not every package exports its package.json). */
function vendorFile(pkg: string, file: string): string {
  const entry = require.resolve(pkg);
  const marker = `${path.sep}node_modules${path.sep}${pkg}${path.sep}`;
  return path.join(entry.slice(0, entry.lastIndexOf(marker) + marker.length), file);
}

const cache = new Map<string, Asset>();

function load(urlPath: string): Asset | null {
  if (urlPath === '/' || urlPath === '/index.html') {
    const html = readFileSync(path.join(UI_DIR, 'index.html'), 'utf8').replace('{{IMPORT_MAP}}', IMPORT_MAP);
    return { type: TYPES['.html']!, body: Buffer.from(html), immutable: false };
  }
  const v = VENDOR[urlPath];
  if (v) return { type: TYPES['.js']!, body: readFileSync(vendorFile(...v)), immutable: true };
  // the UI's own files: /ui/<name>.<ext> or /ui/<dir>/<name>.<ext>, nothing else
  const m = /^\/ui\/((?:[a-z0-9-]+\/)?[a-z0-9-]+(\.[a-z]+))$/.exec(urlPath);
  if (!m || !TYPES[m[2]!]) return null;
  try {
    return { type: TYPES[m[2]!]!, body: readFileSync(path.join(UI_DIR, m[1]!)), immutable: false };
  } catch {
    return null;
  }
}

/** The asset at `urlPath`, or null. */
export function asset(urlPath: string): Asset | null {
  const hit = cache.get(urlPath);
  if (hit) return hit;
  const a = load(urlPath); // misses are not kept: any path may be asked for
  if (a) cache.set(urlPath, a);
  return a;
}

/** Only our files and the inline import map may run; the charts set inline styles. */
export function contentSecurityPolicy(): string {
  const hash = createHash('sha256').update(IMPORT_MAP).digest('base64');
  return [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
