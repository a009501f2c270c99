// The partner dashboard: boots from the gateway's /app-config.json, signs in (OIDC code + PKCE), then routes.
// Each page is its own chunk (React.lazy): the first load carries the shell and the page it lands on.
import "./dashboard.css";
import { lazy, StrictMode, useEffect, useMemo, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes, useNavigate } from "react-router";
import { Provider } from "urql";
import type { User, UserManager } from "oidc-client-ts";
import { createClient } from "./api";
import {
  CALLBACK_PATH,
  chooseOrganisation,
  chosenOrganisation,
  completeSignIn,
  createUserManager,
  signIn,
  signOut,
} from "./auth";
import { loadConfig, type AppConfig } from "./config";
import { useSession } from "./session";
import { Shell } from "./Shell";

const Analytics = lazy(() => import("./pages/Analytics"));
const AnalyticsDrilldown = lazy(() => import("./pages/AnalyticsDrilldown"));
const Orders = lazy(() => import("./pages/Orders"));
const OrderDetail = lazy(() => import("./pages/OrderDetail"));
const Settings = lazy(() => import("./pages/Settings"));
const Customers = lazy(() => import("./pages/Customers"));
const CustomerProfile = lazy(() => import("./pages/CustomerProfile"));
const Integrations = lazy(() => import("./pages/Integrations"));
const Reports = lazy(() => import("./pages/Reports"));
const Segments = lazy(() => import("./pages/Segments"));
const Connections = lazy(() => import("./pages/Connections"));
const Insights = lazy(() => import("./pages/Insights"));
const ReportSchedules = lazy(() => import("./pages/ReportSchedules"));
const ReportRuns = lazy(() => import("./pages/ReportRuns"));
const InsightDashboards = lazy(() => import("./pages/InsightDashboards"));
const InsightEvents = lazy(() => import("./pages/InsightEvents"));
const Activity = lazy(() => import("./pages/Activity"));
const NotFound = lazy(() => import("./pages/NotFound"));

/** Signing in lands on Analytics (seed 000); a provider user, who sees orders only, on Orders. */
function Landing() {
  const { me } = useSession();
  return <Navigate to={me.role === "PROVIDER" ? "/orders" : "/analytics"} replace />;
}

function Callback({ manager }: { manager: UserManager }) {
  const navigate = useNavigate();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    completeSignIn(manager)
      .then((to) => navigate(to, { replace: true }))
      .catch((exc: unknown) => {
        // The OIDC library's wording is for developers (the console keeps it); the page says what to do.
        console.error("Sign-in did not complete", exc);
        setFailed(true);
      });
  }, [manager, navigate]);
  if (failed) {
    return (
      <main id="content" className="page-alone" role="alert">
        <h1>Sign-in did not complete</h1>
        <p>The sign-in answer had expired or was already used (a page reloaded or opened twice, say). Sign in again to carry on.</p>
        <button type="button" className="button primary" onClick={() => void signIn(manager)}>
          Sign in again
        </button>
      </main>
    );
  }
  return (
    <main id="content" className="page-alone">
      <p role="status">Signing you in…</p>
    </main>
  );
}

function SignedIn({ manager, config }: { manager: UserManager; config: AppConfig }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  useEffect(() => {
    let live = true;
    manager.getUser().then((u) => live && setUser(u && !u.expired ? u : null));
    const loaded = (u: User) => setUser(u);
    const gone = () => setUser(null);
    manager.events.addUserLoaded(loaded);
    manager.events.addUserUnloaded(gone);
    manager.events.addSilentRenewError(gone); // renewal failed: back to sign-in (returning to this page)
    manager.events.addAccessTokenExpired(gone);
    return () => {
      live = false;
      manager.events.removeUserLoaded(loaded);
      manager.events.removeUserUnloaded(gone);
      manager.events.removeSilentRenewError(gone);
      manager.events.removeAccessTokenExpired(gone);
    };
  }, [manager]);
  useEffect(() => {
    if (user === null) void signIn(manager);
  }, [user, manager]);
  // One client for the session: it reads the current token at each request (and the live socket at each
  // connection), so a renewed token needs no new client, cache or socket.
  const token = useRef<string | null>(null);
  token.current = user?.access_token ?? null;
  const client = useMemo(
    () =>
      createClient(
        () => token.current,
        chosenOrganisation,
        () => void manager.removeUser(),
      ),
    [manager],
  );
  if (!user) {
    return (
      <main id="content" className="page-alone">
        <p role="status">Taking you to sign in…</p>
      </main>
    );
  }
  return (
    <Provider value={client}>
      <Routes>
        <Route element={<Shell signOut={() => void signOut(manager)} support={config.support} docs={config.docs} />}>
          <Route index element={<Landing />} />
          <Route path="analytics" element={<Analytics />} />
          <Route path="analytics/drilldown" element={<AnalyticsDrilldown />} />
          <Route path="orders" element={<Orders />} />
          <Route path="orders/:id" element={<OrderDetail />} />
          <Route path="customers" element={<Customers />} />
          <Route path="customers/activity" element={<Activity />} />
          <Route path="customers/:id" element={<CustomerProfile />} />
          <Route path="integrations" element={<Integrations />} />
          <Route path="reports" element={<Reports />} />
          <Route path="reports/schedules" element={<ReportSchedules />} />
          <Route path="reports/runs" element={<ReportRuns />} />
          <Route path="reports/:key" element={<Reports />} />
          <Route path="insights" element={<Insights />} />
          <Route path="insights/dashboards" element={<InsightDashboards />} />
          <Route path="insights/dashboards/:id" element={<InsightDashboards />} />
          <Route path="insights/events" element={<InsightEvents />} />
          <Route path="segments" element={<Segments />} />
          <Route path="segments/connections" element={<Connections />} />
          <Route path="settings" element={<Settings />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </Provider>
  );
}

function App({ config }: { config: AppConfig }) {
  const manager = useMemo(() => createUserManager(config), [config]);
  return (
    <BrowserRouter>
      <Routes>
        <Route path={CALLBACK_PATH} element={<Callback manager={manager} />} />
        <Route path="*" element={<SignedIn manager={manager} config={config} />} />
      </Routes>
    </BrowserRouter>
  );
}

// A link into one organisation (?org=<id>, e.g. from an invitation to a second one) chooses it for this browser:
// the API answers as that membership (X-Organisation-Id). The token itself names no organisation.
const orgParam = new URLSearchParams(window.location.search).get("org");
if (orgParam && /^[0-9a-f-]{36}$/i.test(orgParam)) chooseOrganisation(orgParam);

const root = createRoot(document.getElementById("root") as HTMLElement);
loadConfig()
  .then((config) =>
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    ),
  )
  .catch((exc: unknown) => {
    console.error("The dashboard's configuration could not be loaded", exc);
    root.render(
      <main id="content" className="page-alone" role="alert">
        <h1>The dashboard could not start</h1>
        <p>The platform did not answer with the dashboard's settings: it may be restarting, or your connection dropped.</p>
        <p>Reload the page in a moment.</p>
        <button type="button" className="button primary" onClick={() => window.location.reload()}>
          Reload
        </button>
      </main>,
    );
  });
