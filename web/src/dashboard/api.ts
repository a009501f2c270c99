// The GraphQL client (urql) over the gateway's /graphql: the signed-in user's access token, the chosen
// organisation, and the gateway's refusals made GraphQL errors with their code (UNAUTHENTICATED, UNAVAILABLE,
// RATE_LIMITED, …) so that every page tells them apart. The request id of the last failed call is kept for
// the Support entry.
import { createClient as createWsClient } from "graphql-ws";
import { Client, cacheExchange, fetchExchange, subscriptionExchange, type CombinedError } from "urql";
import { useSyncExternalStore } from "react";

export type Failure = { requestId: string | null; code: string; message: string; at: string };

let lastFailure: Failure | null = null;
const listeners = new Set<() => void>();

export function recordFailure(failure: Failure): void {
  lastFailure = failure;
  for (const listener of listeners) listener();
}

export function useLastFailure(): Failure | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => lastFailure,
  );
}

type GatewayError = { error?: { code?: string; message?: string } };

/** fetch for urql: a refusal of the gateway (401, 403, 429, 503: `{"error": {code, message}}`) becomes a GraphQL
 * error with that code; GraphQL errors in a 200 answer are recorded as failures too. */
export function gatewayFetch(onUnauthenticated: () => void): typeof fetch {
  return async (input, init) => {
    let response: Response;
    try {
      response = await fetch(input, init);
    } catch (exc) {
      const failure = { requestId: null, code: "NETWORK", message: "the platform could not be reached", at: new Date().toISOString() };
      recordFailure(failure);
      throw exc;
    }
    const requestId = response.headers.get("x-request-id");
    if (response.ok) {
      const body = (await response.clone().json().catch(() => null)) as { errors?: { message: string; extensions?: { code?: string } }[] } | null;
      const first = body?.errors?.[0];
      if (first) {
        recordFailure({ requestId, code: first.extensions?.code ?? "ERROR", message: first.message, at: new Date().toISOString() });
      }
      return response;
    }
    const body = (await response.json().catch(() => ({}))) as GatewayError;
    const code = body.error?.code ?? (response.status >= 500 ? "UNAVAILABLE" : `HTTP_${response.status}`);
    const message = body.error?.message ?? response.statusText;
    recordFailure({ requestId, code, message, at: new Date().toISOString() });
    if (response.status === 401) onUnauthenticated();
    const errors = [{ message, extensions: { code, requestId, status: response.status } }];
    return new Response(JSON.stringify({ errors, data: null }), {
      status: 200,
      headers: { "content-type": "application/json", ...(requestId ? { "x-request-id": requestId } : {}) },
    });
  };
}

export function createClient(
  token: () => string | null,
  organisation: () => string | null,
  onUnauthenticated: () => void,
): Client {
  // Live updates (GraphQL subscriptions, graphql-transport-ws on this origin's /graphql): the token travels in
  // connection_init, as the gateway expects; the socket opens at the first subscription and closes when idle.
  const wsUrl = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/graphql`;
  const live = createWsClient({
    url: wsUrl,
    lazy: true,
    retryAttempts: 5,
    connectionParams: () => {
      const params: Record<string, string> = {};
      const t = token();
      if (t) params.Authorization = `Bearer ${t}`;
      const org = organisation();
      if (org) params["X-Organisation-Id"] = org;
      return params;
    },
  });
  return new Client({
    url: "/graphql",
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? "" };
          return { subscribe: (sink) => ({ unsubscribe: live.subscribe(input, sink) }) };
        },
      }),
    ],
    requestPolicy: "cache-and-network",
    preferGetMethod: false,
    fetch: gatewayFetch(onUnauthenticated),
    fetchOptions: () => {
      const headers: Record<string, string> = {};
      const t = token();
      if (t) headers.authorization = `Bearer ${t}`;
      const org = organisation();
      if (org) headers["x-organisation-id"] = org;
      return { headers };
    },
  });
}

/** The error code of a failed operation: the gateway's or the API's `extensions.code`, else NETWORK. */
export function errorCode(error: CombinedError | undefined): string | null {
  if (!error) return null;
  const code = error.graphQLErrors[0]?.extensions?.code;
  if (typeof code === "string") return code;
  return error.networkError ? "NETWORK" : "ERROR";
}
