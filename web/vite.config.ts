// The platform's browser pages, built into dist/ (git-ignored) by `./platform up` and `./platform test`
// and served by the gateway: each page's HTML at its route, its files under /assets/ with hashed names
// (cached for a year). Everything a page loads is bundled here: no CDN, no other origin, no inline script
// (the gateway's Content-Security-Policy allows only 'self'), so the pages work offline.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  // TSX through esbuild with React's automatic runtime; no Babel, no dev-server plugin needed.
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    // Vite would inline small files as data: URLs in scripts; keep every asset a file of its own.
    assetsInlineLimit: 0,
    sourcemap: false,
    // Every browser the page targets supports <link rel="modulepreload">; no polyfill code.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      // React libraries mark their modules "use client" for server components; meaningless in a bundle.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      // One HTML entry per page: the partner dashboard (index.html, served at / and its client routes) and GraphiQL.
      input: { dashboard: "index.html", graphiql: "graphiql.html" }, // relative to web/, where npm runs the build
    },
  },
});
