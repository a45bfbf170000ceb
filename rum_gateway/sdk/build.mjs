// Build the two SDK files with esbuild: `npm run build` (make sdk).
//   dist/twinlens-rum.js   IIFE for <script src=…/sdk.js data-app=…>; window.twinlens.init
//   dist/twinlens-rum.mjs  ES module exporting init(), for apps that bundle it
//   dist/twinlens-probe-vitals.js  IIFE the exporter's browser prober injects (lab vitals)
import { build } from 'esbuild';

const common = {
  bundle: true,
  minify: true,
  target: 'es2019',
  platform: 'browser',
  // web-vitals' license headers are plain comments the minifier drops: one short notice
  // instead (both are Apache-2.0; the full texts are in the repository and the npm package).
  legalComments: 'none',
  banner: { js: '/*! twinlens RUM SDK, Apache-2.0; includes web-vitals (c) Google LLC, Apache-2.0 */' },
  logLevel: 'warning',
  mangleProps: /^_/, // internal properties (ours and web-vitals') are named _x
};

await Promise.all([
  build({ ...common, entryPoints: ['src/tag.js'], format: 'iife', outfile: 'dist/twinlens-rum.js' }),
  build({ ...common, entryPoints: ['src/index.js'], format: 'esm', outfile: 'dist/twinlens-rum.mjs' }),
  // web-vitals for the exporter's browser prober (lab vitals of synthetic runs), same version.
  build({ ...common, entryPoints: ['src/probe-vitals.js'], format: 'iife', outfile: 'dist/twinlens-probe-vitals.js' }),
]);
