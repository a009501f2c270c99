// Vitest: formatting and component tests of the dashboard (src/**/*.test.ts[x]), in jsdom, run by `npm test`
// and by `npm run build` before Vite bundles (a failing test fails the build, hence ./platform up and test).
import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    pool: "threads",
    poolOptions: { threads: { singleThread: true } }, // two cores shared with the platform's other work
  },
});
