// Every state of a page has its own message and a next step: loading, empty, refused, a backing service
// unavailable, the platform unreachable. Never a blank area or a raw error.
import { Component, type ErrorInfo, type ReactNode } from "react";
import type { CombinedError } from "urql";
import { errorCode } from "./api";

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return (
    <div className="state state-empty" role="status">
      {children}
    </div>
  );
}

const MESSAGES: Record<string, [string, string]> = {
  UNAVAILABLE: ["A backing service is unavailable.", "The figures will be back shortly: try again in a minute."],
  OVERLOADED: ["The platform is busy.", "Try again in a few seconds."],
  RATE_LIMITED: ["Too many requests in a short time.", "Wait a few seconds, then try again."],
  UNAUTHENTICATED: ["Your session has ended.", "Sign in again to carry on."],
  NO_MEMBERSHIP: ["You are not a member of this organisation.", "Ask an admin of the organisation to invite you."],
  FORBIDDEN: ["This needs another role.", "Ask an admin of your organisation."],
  NOT_FOUND: ["Not found.", "It may have been removed, or it belongs to another organisation."],
  NETWORK: ["The platform could not be reached.", "Check your connection, then try again."],
};

function messageOf(error: CombinedError | null | undefined, fallback: [string, string]): [string, string, string] {
  const code = errorCode(error ?? undefined) ?? "ERROR";
  const [title, next] = MESSAGES[code] ?? fallback;
  return [code, title, next];
}

/** A failed call as a sentence for people (never urql's "[Network] …" / "[GraphQL] …" text): what happened and
 * what to do, from the error's code; `fallback` when the code is not one of the known ones. */
export function errorMessage(error: CombinedError | null | undefined, fallback = "That did not work; try again. If it persists, contact support."): string {
  const [code, title, next] = messageOf(error, [fallback, ""]);
  const requestId = error?.graphQLErrors[0]?.extensions?.requestId;
  const tail = MESSAGES[code] || (code === "ERROR" && typeof requestId !== "string") ? "" : ` (code ${code}${typeof requestId === "string" ? `, request ${requestId}` : ""})`;
  return `${title}${next ? ` ${next}` : ""}${tail}`;
}

export function ErrorState({ error, what, retry }: { error: CombinedError; what: string; retry?: () => void }) {
  const [code, title, next] = messageOf(error, [`The ${what} could not be loaded.`, "Try again; if it persists, contact support."]);
  const requestId = error.graphQLErrors[0]?.extensions?.requestId;
  return (
    <div className={`state state-error state-${code.toLowerCase()}`} role="alert">
      <p>
        <strong>{title}</strong> {next}
      </p>
      <p className="muted">
        Code {code}
        {typeof requestId === "string" ? ` · request ${requestId}` : ""} · see Support for the request id.
      </p>
      {retry ? (
        <button type="button" className="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** A page's code that did not arrive: a new version of the dashboard was deployed since this one loaded, and the
 * old chunk files are gone (Chromium, Firefox and Safari word it differently; Vite's preload helper too). */
export function isChunkLoadError(error: unknown): boolean {
  const text = error instanceof Error ? `${error.name} ${error.message}` : String(error);
  return /dynamically imported module|Importing a module script failed|ChunkLoadError|Unable to preload CSS|Failed to load module script/i.test(text);
}

type BoundaryProps = { resetKey: string; children: ReactNode };

/** Around the page outlet: a page that throws while rendering, or whose code no longer loads, shows a message and
 * a next step instead of blanking the whole dashboard; the next navigation (a new `resetKey`) tries again. */
export class PageErrorBoundary extends Component<BoundaryProps, { error: unknown; key: string }> {
  override state: { error: unknown; key: string } = { error: null, key: this.props.resetKey };

  static getDerivedStateFromError(error: unknown) {
    return { error: error ?? new Error("unknown") };
  }

  static getDerivedStateFromProps(props: BoundaryProps, state: { error: unknown; key: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error("The page failed", error, info.componentStack);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    const chunk = isChunkLoadError(this.state.error);
    return (
      <div className={`state state-error ${chunk ? "state-new-version" : "state-page-failed"}`} role="alert">
        <p>
          {chunk ? (
            <>
              <strong>A new version of the dashboard is available.</strong> Reload to get it; this page then opens as before.
            </>
          ) : (
            <>
              <strong>This page stopped working.</strong> Reload it, or go to another page; if it happens again, contact
              Support (above) and say which page and what you did.
            </>
          )}
        </p>
        <button type="button" className="button primary" onClick={() => window.location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}
