// Every state of a page has its own message and a next step: loading, empty, refused, a backing service
// unavailable, the platform unreachable. Never a blank area or a raw error.
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

export function ErrorState({ error, what, retry }: { error: CombinedError; what: string; retry?: () => void }) {
  const code = errorCode(error) ?? "ERROR";
  const [title, next] = MESSAGES[code] ?? [`The ${what} could not be loaded.`, "Try again; if it persists, contact support."];
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
