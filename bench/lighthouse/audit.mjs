// Lighthouse on a page of a Chromium that is already running and signed in (bench/web_figures.py starts it with
// --remote-debugging-port and signs in through the development issuer first).
//
//   node audit.mjs --port 9222 --url http://127.0.0.1:8000/analytics --out report.json
//
// The dashboard keeps its tokens in sessionStorage, which belongs to one tab: a tab that Lighthouse opened for
// itself would land on the sign-in page. So Lighthouse runs in the signed-in tab (found by its origin, through
// puppeteer-core on the same debugging port), with the storage reset turned off. Desktop settings; no simulated
// network or CPU throttling (throttlingMethod "provided"): the local platform as it answers on this machine.
// Prints one JSON line: the two category scores and the metrics that make up the performance score.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";
import puppeteer from "puppeteer-core";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    url: { type: "string" },
    out: { type: "string" },
    throttling: { type: "string", default: "provided" },
  },
});
if (!values.port || !values.url) {
  console.error("usage: node audit.mjs --port <remote debugging port> --url <page> [--out report.json] [--throttling provided|simulate]");
  process.exit(2);
}

const port = Number(values.port);
const origin = new URL(values.url).origin;
const browser = await puppeteer.connect({ browserURL: `http://127.0.0.1:${port}`, defaultViewport: null });
try {
  const pages = await browser.pages();
  const page = pages.find((p) => p.url().startsWith(origin));
  if (!page) {
    throw new Error(`no tab of ${origin} is open (signed in) in the browser on port ${port}: ${pages.map((p) => p.url())}`);
  }
  const flags = {
    port,
    output: "json",
    logLevel: "error",
    onlyCategories: ["performance", "accessibility"],
    disableStorageReset: true,
    throttlingMethod: values.throttling,
  };
  const result = await lighthouse(values.url, flags, desktopConfig, page);
  if (!result) throw new Error("Lighthouse returned no result");
  const { lhr } = result;
  if (values.out) await writeFile(values.out, typeof result.report === "string" ? result.report : JSON.stringify(lhr));
  const ms = (id) => (lhr.audits[id] && typeof lhr.audits[id].numericValue === "number" ? Math.round(lhr.audits[id].numericValue) : null);
  const score = (id) => (lhr.categories[id] && lhr.categories[id].score !== null ? Math.round(lhr.categories[id].score * 100) : null);
  const failedA11y = Object.values(lhr.audits)
    .filter((a) => lhr.categories.accessibility.auditRefs.some((r) => r.id === a.id && r.weight > 0) && a.score !== null && a.score < 1)
    .map((a) => a.id);
  console.log(
    JSON.stringify({
      lighthouse: lhr.lighthouseVersion,
      finalUrl: lhr.finalDisplayedUrl,
      throttling: lhr.configSettings.throttlingMethod,
      formFactor: lhr.configSettings.formFactor,
      performance: score("performance"),
      accessibility: score("accessibility"),
      firstContentfulPaintMs: ms("first-contentful-paint"),
      largestContentfulPaintMs: ms("largest-contentful-paint"),
      speedIndexMs: ms("speed-index"),
      totalBlockingTimeMs: ms("total-blocking-time"),
      interactiveMs: ms("interactive"),
      cumulativeLayoutShift: lhr.audits["cumulative-layout-shift"]?.numericValue ?? null,
      accessibilityFailed: failedA11y,
      runtimeError: lhr.runtimeError?.message ?? null,
      warnings: lhr.runWarnings,
    }),
  );
} finally {
  await browser.disconnect();
}
