// The web pages: plain HTML for the citizen, the officer, the supervisor and the public
// ledger explorer, and their scripts bundled once by esbuild from web/ (which verifies the
// ledger in the browser with the repo's own ledger library). Everything is served from
// memory with a Content-Security-Policy that allows scripts and styles from this origin only:
// no inline script, no external network.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../domain/errors.ts';

const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));
const ROOT_DIR = fileURLToPath(new URL('../', import.meta.url));

/** Only this origin's scripts, styles, images and API; nothing inline, no frames, no forms elsewhere. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PageDefinition {
  path: string;
  /** web/pages/<file>.html holds the page's <main> content. */
  file: string;
  title: string;
  description: string;
  /** The entry point web/pages/<script>.ts, if the page has one. */
  script?: string;
  /** The label of the page in the navigation. */
  nav?: string;
}

export const PAGES: readonly PageDefinition[] = [
  {
    path: '/',
    file: 'index',
    title: 'Transfer a home with one application',
    description: 'OneWindow: apply once, every agency decides, a public ledger anyone can verify.',
  },
  {
    path: '/citizen',
    file: 'citizen',
    script: 'citizen',
    nav: 'Citizen',
    title: 'My home transfer',
    description: 'Apply to transfer a home, follow your case, pay, see who accessed your data.',
  },
  {
    path: '/officer',
    file: 'officer',
    script: 'officer',
    nav: 'Officer',
    title: 'Review inbox',
    description: 'Review steps open for your agency: read the minimised view, approve or reject.',
  },
  {
    path: '/supervisor',
    file: 'supervisor',
    script: 'supervisor',
    nav: 'Supervisor',
    title: 'Supervision',
    description: 'Cases, timelines beside their verified ledger entries, escalations, evidence.',
  },
  {
    path: '/explorer',
    file: 'explorer',
    script: 'explorer',
    nav: 'Ledger explorer',
    title: 'Ledger explorer',
    description:
      'The public ledger: the latest cosigned checkpoint and every entry, verified here.',
  },
];

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

export interface WebAssets {
  /** HTML by page path. */
  pages: Map<string, Asset>;
  /** Files under /assets/ by name. */
  assets: Map<string, Asset>;
  /** Every source file esbuild bundled, relative to the repository (for tests). */
  inputs: string[];
}

/** zod's index of every locale, replaced by English only (web/zodLocales.ts). */
const englishOnlyZod: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: join(WEB_DIR, 'zodLocales.ts') } : undefined,
    );
  },
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

function asset(body: Buffer | string, type: string, cacheControl: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`;
  return { body: bytes, type, etag, cacheControl };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Bundles the page scripts (ESM, ES2022, minified, for browsers: a Node built-in anywhere in
 * their imports fails the build) and assembles the pages. Pure of side effects: call once.
 * @throws esbuild's build error naming the file and line.
 */
export async function buildWebAssets(): Promise<WebAssets> {
  const entryPoints = Object.fromEntries(
    PAGES.filter((p) => p.script).map((p) => [p.script!, join(WEB_DIR, 'pages', `${p.script}.ts`)]),
  );
  const result = await build({
    entryPoints,
    absWorkingDir: ROOT_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    charset: 'utf8',
    write: false,
    metafile: true,
    outdir: join(WEB_DIR, '.out'),
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    logLevel: 'silent',
    plugins: [englishOnlyZod],
  });
  const assets = new Map<string, Asset>();
  const scriptNames = new Map<string, string>();
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    assets.set(
      name,
      asset(Buffer.from(file.contents), 'text/javascript; charset=utf-8', IMMUTABLE),
    );
    const entry = /^([a-z]+)-[A-Z0-9]+\.js$/.exec(name)?.[1];
    if (entry && entry in entryPoints) scriptNames.set(entry, name);
  }
  const [css, icon, layout] = await Promise.all([
    readFile(join(WEB_DIR, 'style.css')),
    readFile(join(WEB_DIR, 'icon.svg')),
    readFile(join(WEB_DIR, 'pages', 'layout.html'), 'utf8'),
  ]);
  assets.set('style.css', asset(css, 'text/css; charset=utf-8', REVALIDATE));
  assets.set('icon.svg', asset(icon, 'image/svg+xml', REVALIDATE));

  const pages = new Map<string, Asset>();
  for (const page of PAGES) {
    const main = await readFile(join(WEB_DIR, 'pages', `${page.file}.html`), 'utf8');
    const nav = PAGES.filter((p) => p.nav)
      .map(
        (p) =>
          `<li><a href="${p.path}"${p.path === page.path ? ' aria-current="page"' : ''}>${escapeHtml(p.nav!)}</a></li>`,
      )
      .join('\n          ');
    const script = page.script
      ? `<script type="module" src="/assets/${scriptNames.get(page.script)}"></script>`
      : '';
    const html = layout
      .replace('{{title}}', escapeHtml(page.title))
      .replace('{{description}}', escapeHtml(page.description))
      .replace('{{script}}', script)
      .replace('{{nav}}', nav)
      .replace('{{main}}', main.trim());
    pages.set(page.path, asset(html, 'text/html; charset=utf-8', REVALIDATE));
  }
  const inputs = Object.keys(result.metafile.inputs).sort();
  return { pages, assets, inputs };
}

function send(request: FastifyRequest, reply: FastifyReply, file: Asset): FastifyReply {
  reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', file.cacheControl)
    .header('etag', file.etag);
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

/**
 * Serves the pages (`/`, `/citizen`, `/officer`, `/supervisor`, `/explorer`) and `/assets/*`.
 * The scripts are built once, here; pass `assets` to reuse a build.
 */
export async function registerWebRoutes(app: FastifyInstance, assets?: WebAssets): Promise<void> {
  const built = assets ?? (await buildWebAssets());
  for (const [path, page] of built.pages) {
    // Pages are not API: public, and left out of /openapi.json.
    app.get(path, { schema: { hide: true }, config: { rateLimit: {} } }, (request, reply) =>
      send(request, reply, page),
    );
  }
  app.get(
    '/assets/:name',
    { schema: { hide: true }, config: { rateLimit: {} } },
    (request, reply) => {
      const { name } = request.params as { name: string };
      const file = built.assets.get(name);
      if (!file) throw new NotFoundError(`no asset ${name}`, 'url');
      return send(request, reply, file);
    },
  );
}
