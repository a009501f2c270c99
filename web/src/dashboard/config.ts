// What the gateway tells the app (GET /app-config.json, services/gateway/web_app.py): where to sign in, the
// audience the API expects, where support is. Any OIDC provider works by changing the gateway's settings.
export type AppConfig = {
  authority: string;
  clientId: string;
  audience: string;
  scope: string;
  support: string;
  docs: string;
};

export async function loadConfig(): Promise<AppConfig> {
  const r = await fetch("/app-config.json", { headers: { accept: "application/json" } });
  if (!r.ok) throw new Error(`the dashboard's configuration could not be loaded (HTTP ${r.status})`);
  return (await r.json()) as AppConfig;
}
