// The development GraphiQL page: GraphiQL (CodeMirror 5 editors) against the gateway's POST /graphql.
//
// The gateway serves this page in development only, with its configuration as JSON in
// <meta name="graphiql-config">: the endpoint and, when a development issuer key is available, default
// request headers holding a fresh development token (so that the schema loads without pasting one).
// Everything, styles and fonts included, is bundled from the installed packages: nothing comes from a CDN.
import { GraphiQL, type GraphiQLProps } from "graphiql";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import "graphiql/style.css";
import "./graphiql.css";

type Fetcher = GraphiQLProps["fetcher"];

declare global {
  // Read by react-style-singleton (Radix's scroll lock) for the <style> elements it creates.
  var __webpack_nonce__: string | undefined;
}

export interface PageConfig {
  endpoint: string;
  headers: Record<string, string>;
  /** This answer's style nonce: the page's CSP allows <style> elements carrying it, and no others. */
  styleNonce?: string;
}

/** The configuration the gateway put in the page; defaults when there is none or it is malformed. */
export function readConfig(doc: Document): PageConfig {
  const fallback: PageConfig = { endpoint: "/graphql", headers: {} };
  const raw = doc.querySelector<HTMLMetaElement>('meta[name="graphiql-config"]')?.content;
  if (!raw) return fallback;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== "object" || parsed === null) return fallback;
    const { endpoint, headers, styleNonce } = parsed as { endpoint?: unknown; headers?: unknown; styleNonce?: unknown };
    const stringHeaders: Record<string, string> = {};
    if (typeof headers === "object" && headers !== null) {
      for (const [name, value] of Object.entries(headers)) {
        if (typeof value === "string") stringHeaders[name] = value;
      }
    }
    return {
      endpoint: typeof endpoint === "string" && endpoint.startsWith("/") ? endpoint : fallback.endpoint,
      headers: stringHeaders,
      ...(typeof styleNonce === "string" ? { styleNonce } : {}),
    };
  } catch {
    return fallback;
  }
}

/** POSTs each operation as JSON; the headers editor's values win over the page's defaults. */
function jsonFetcher(config: PageConfig): Fetcher {
  return async (params, options) => {
    const edited: Record<string, string> = {};
    for (const [name, value] of Object.entries(options?.headers ?? {})) {
      edited[name] = String(value);
    }
    const response = await fetch(config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { accept: "application/json", "content-type": "application/json", ...config.headers, ...edited },
      body: JSON.stringify(params),
    });
    const text = await response.text();
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not GraphQL JSON (a proxy's error page, say): show what came back rather than a parse error.
      return { errors: [{ message: `HTTP ${response.status}: ${text.slice(0, 500)}` }] };
    }
  };
}

const config = readConfig(document);
globalThis.__webpack_nonce__ = config.styleNonce;
const headerText = Object.keys(config.headers).length ? JSON.stringify(config.headers, null, 2) : undefined;
const root = document.getElementById("graphiql");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <GraphiQL
        fetcher={jsonFetcher(config)}
        defaultHeaders={headerText}
        headers={headerText}
        defaultEditorToolsVisibility={headerText ? "headers" : false}
        shouldPersistHeaders={false}
      />
    </StrictMode>,
  );
}
