// The pages as the server sends them: content types, caching, the Content-Security-Policy,
// no inline script or external resource, and a bundle built only from browser-safe sources.
// No network and no database: the pages' behaviour is tested in Chromium
// (test/integration/browser.test.ts).
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from './app.ts';
import { UnauthorizedError } from './auth.ts';
import { registerErrorHandler } from './errors.ts';
import {
  buildWebAssets,
  CONTENT_SECURITY_POLICY,
  PAGES,
  registerWebRoutes,
  type WebAssets,
} from './webRoutes.ts';

let assets: WebAssets;
let app: FastifyInstance;

beforeAll(async () => {
  assets = await buildWebAssets();
  app = Fastify();
  registerErrorHandler(app);
  await registerWebRoutes(app, assets);
});
afterAll(async () => {
  await app?.close();
});

const get = (url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers });

/** The src of each <script> and the href of each <link>, as they appear in the page. */
function references(html: string): string[] {
  return [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
}

describe('the pages', () => {
  test.each(PAGES.map((p) => [p.path]))(
    '%s is HTML with the CSP, a language, a viewport and a main landmark',
    async (path) => {
      const response = await get(path);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      const html = response.body;
      expect(html).toMatch(/^<!doctype html>\s*<html lang="en">/);
      expect(html).toContain(
        '<meta name="viewport" content="width=device-width, initial-scale=1" />',
      );
      expect(html).toContain('<main id="main"');
      expect(html).toContain('<nav aria-label="Pages">');
      expect(html).not.toMatch(/\{\{\w+\}\}/);
    },
  );

  test.each(PAGES.map((p) => [p.path]))(
    '%s has no inline script, inline style or event handler attribute, and loads nothing from elsewhere',
    async (path) => {
      const html = (await get(path)).body;
      for (const script of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
        expect(script[1]).toMatch(/\bsrc="\/assets\//);
        expect(script[2]).toBe('');
      }
      expect(html).not.toMatch(/\sstyle=|<style\b/);
      expect(html).not.toMatch(/\son[a-z]+=/);
      for (const ref of references(html)) expect(ref).toMatch(/^\/assets\//);
      expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    },
  );

  test.each(PAGES.filter((p) => p.script).map((p) => [p.path, p.script!]))(
    '%s loads its own module script, which the server serves',
    async (path, script) => {
      const html = (await get(path)).body;
      const src = /<script type="module" src="(\/assets\/[^"]+)"><\/script>/.exec(html)?.[1];
      expect(src).toMatch(new RegExp(`^/assets/${script}-[A-Z0-9]+\\.js$`));
      const response = await get(src!);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    },
  );

  test('every page links every other page, marking the current one', async () => {
    const html = (await get('/explorer')).body;
    for (const page of PAGES.filter((p) => p.nav)) expect(html).toContain(`href="${page.path}"`);
    expect(html).toContain('<a href="/explorer" aria-current="page">');
    expect(html.match(/aria-current/g)).toHaveLength(1);
  });

  test('every stylesheet and icon reference resolves', async () => {
    expect(PAGES.length).toBeGreaterThan(0);
    for (const page of PAGES) {
      const refs = references((await get(page.path)).body);
      expect(refs, page.path).toEqual(
        expect.arrayContaining(['/assets/icon.svg', '/assets/style.css']),
      );
      for (const ref of refs)
        expect((await get(ref)).statusCode, `${page.path} → ${ref}`).toBe(200);
    }
  });
});

describe('the assets', () => {
  test('the stylesheet is CSS that revalidates, and answers 304 to its ETag', async () => {
    const first = await get('/assets/style.css');
    expect(first.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(first.headers['cache-control']).toBe('no-cache');
    const etag = String(first.headers.etag);
    const again = await get('/assets/style.css', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  test('the stylesheet uses no web font and no external URL', async () => {
    const css = (await get('/assets/style.css')).body;
    expect(css).not.toMatch(/@import|@font-face|url\(/);
  });

  test('an unknown asset is a JSON 404', async () => {
    const response = await get('/assets/nothing.js');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: 'not_found',
      field: 'url',
      reason: 'no asset nothing.js',
    });
  });

  test('the scripts are built only from web/, ledger/ (not ledger/pg), domain/, @noble and zod', () => {
    const allowed =
      /^(web\/[\w/]+\.ts|ledger\/\w+\.ts|domain\/\w+\.ts|node_modules\/(@noble\/(ed25519|hashes)|zod)\/)/;
    expect(assets.inputs.filter((input) => !allowed.test(input))).toEqual([]);
    expect(assets.inputs).toContain('web/verify.ts');
    expect(assets.inputs).toContain('ledger/proof.ts');
  });

  test('the scripts are ES modules with no Node built-in left in them', () => {
    const scripts = [...assets.assets].filter(([name]) => name.endsWith('.js'));
    // Every page's own script is among those checked (with any chunks they share).
    const entries = PAGES.filter((p) => p.script).map((p) => p.script!);
    expect(entries.length).toBeGreaterThan(0);
    const names = scripts.map(([name]) => name);
    for (const entry of entries) {
      const own = new RegExp(`^${entry}-[A-Z0-9]+\\.js$`);
      expect(
        names.filter((name) => own.test(name)),
        entry,
      ).toHaveLength(1);
    }
    for (const [name, file] of scripts) {
      const code = file.body.toString('utf8');
      expect(code, name).not.toMatch(/\brequire\(|["']node:/);
    }
  });

  test("zod's other locales are left out of the bundle", () => {
    // The bundler's own list of what went in: zod's English locale, and no other.
    const locales = assets.inputs.filter((input) => /zod\/.*\/locales\//.test(input));
    expect(locales).toEqual(['node_modules/zod/v4/locales/en.js']);
  });
});

describe('within buildApp', () => {
  test("the pages' own CSP replaces the API's default, and the API still answers", async () => {
    const full = await buildApp({
      temporal: {} as never,
      pool: {} as never,
      verifyToken: () => Promise.reject(new UnauthorizedError('no tokens in this test')),
      recordAccess: () => Promise.reject(new Error('no ledger in this test')),
    });
    if (!full.hasRoute({ method: 'GET', url: '/explorer' })) await registerWebRoutes(full, assets);
    const page = await full.inject({ method: 'GET', url: '/explorer' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    const refused = await full.inject({ method: 'GET', url: '/cases' });
    expect(refused.statusCode).toBe(401);
    await full.close();
  });
});
