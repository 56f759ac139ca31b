// What the browser bundle uses instead of zod's index of ~50 locales (about 250 kB minified):
// only English, the language the pages and the API's messages use. api/webRoutes.ts swaps it
// in for zod/v4/locales/index.js when bundling; zod itself is unchanged.
export { default as en } from 'zod/v4/locales/en.js';
