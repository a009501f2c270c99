// Sign-in with OpenID Connect, authorization code + PKCE (oidc-client-ts). Tokens stay in sessionStorage (gone
// with the tab); the refresh token renews the access token before it expires; when renewal fails the user is
// sent back to sign in, returning to the page they were on.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import type { AppConfig } from "./config";

export const CALLBACK_PATH = "/auth/callback";
const ORG_KEY = "dashboard.organisation";

export function createUserManager(config: AppConfig): UserManager {
  const origin = window.location.origin;
  return new UserManager({
    authority: config.authority,
    client_id: config.clientId,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${origin}/`,
    response_type: "code",
    scope: config.scope,
    // Auth0 issues an API (JWT) access token only for a named audience; other providers ignore the parameter.
    extraQueryParams: { audience: config.audience },
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: 60,
    loadUserInfo: false,
    monitorSession: false,
  });
}

/** The page to come back to after signing in (kept in the OIDC state, never in a URL we do not control). */
export type ReturnState = { returnTo: string };

export async function signIn(manager: UserManager): Promise<void> {
  const here = window.location.pathname + window.location.search;
  const state: ReturnState = { returnTo: here.startsWith(CALLBACK_PATH) ? "/" : here };
  await manager.signinRedirect({ state });
}

export async function completeSignIn(manager: UserManager): Promise<string> {
  const user: User = await manager.signinRedirectCallback();
  const state = user.state as ReturnState | undefined;
  const target = state?.returnTo ?? "/";
  return target.startsWith("/") && !target.startsWith("//") ? target : "/";
}

export async function signOut(manager: UserManager): Promise<void> {
  window.localStorage.removeItem(ORG_KEY);
  const hasEndSession = await manager.metadataService
    .getEndSessionEndpoint()
    .then(Boolean)
    .catch(() => false);
  if (hasEndSession) {
    await manager.signoutRedirect();
  } else {
    await manager.removeUser();
    window.location.assign("/");
  }
}

/** The organisation chosen by a user who belongs to several (sent as X-Organisation-Id); null: the default one. */
export function chosenOrganisation(): string | null {
  return window.localStorage.getItem(ORG_KEY);
}

export function chooseOrganisation(id: string | null): void {
  if (id) window.localStorage.setItem(ORG_KEY, id);
  else window.localStorage.removeItem(ORG_KEY);
}
