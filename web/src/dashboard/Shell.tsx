// The signed-in layout: header (organisation, user, Support, sign-out), navigation, the page. From a 1280-px
// laptop down to a 390-px phone without horizontal page scroll: below 900 px the navigation folds behind a
// Menu button. A skip link and visible focus for keyboard users. A user of several organisations switches
// between them in the header (Switch organisation): the choice is sent as X-Organisation-Id from then on.
import { Suspense, useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../gql";
import { errorCode, useLastFailure } from "./api";
import { chooseOrganisation, chosenOrganisation } from "./auth";
import { SessionContext, type Session } from "./session";
import { ErrorState, Loading, PageErrorBoundary } from "./states";
import { applyPrimaryColour } from "./theme";
import "./pages/settings-chooser.css";

const SessionDoc = graphql(`
  query Session {
    me {
      subject
      email
      role
      memberId
      organisationId
      organisationName
      providerId
      memberships {
        organisationId
        organisationName
        role
      }
      invitations {
        organisationId
        organisationName
        role
      }
    }
    organisation {
      id
      name
      marketplaceUrl
      primaryColour
      baseCurrency
      timeZone
    }
  }
`);

export const NAV: { to: string; label: string }[] = [
  { to: "/analytics", label: "Analytics" },
  { to: "/integrations", label: "Integrations" },
  { to: "/orders", label: "Orders" },
  { to: "/customers", label: "Customers" },
  { to: "/segments", label: "Segments" },
  { to: "/insights", label: "Insights" },
  { to: "/reports", label: "Reports" },
  { to: "/settings", label: "Settings" },
];

export function Support({ address }: { address: string }) {
  const failure = useLastFailure();
  const [open, setOpen] = useState(false);
  const href = address.includes("@") && !address.startsWith("http") ? `mailto:${address}` : address;
  return (
    <div className="support">
      <button type="button" className="link-button" aria-expanded={open} aria-controls="support-panel" onClick={() => setOpen(!open)}>
        Support
      </button>
      {open ? (
        <div id="support-panel" className="support-panel" role="region" aria-label="Support">
          <p>
            Contact <a href={href}>{address}</a>.
          </p>
          {failure ? (
            <>
              <p>Quote the request id of the last failed call ({failure.code}):</p>
              <p className="request-id">
                <code data-testid="last-request-id">{failure.requestId ?? "none (the platform was not reached)"}</code>{" "}
                {failure.requestId ? (
                  <button type="button" className="button small" onClick={() => void navigator.clipboard?.writeText(failure.requestId ?? "")}>
                    Copy
                  </button>
                ) : null}
              </p>
            </>
          ) : (
            <p className="muted">No call has failed in this session.</p>
          )}
        </div>
      ) : null}
    </div>
  );
}

export type MembershipChoice = { organisationId: string; organisationName: string; role: string };

/** Where switching organisation lands: the same section's first page, never an id or a filter of the one left. */
export function switchTarget(pathname: string): string {
  const section = pathname.split("/").filter(Boolean)[0];
  return section && NAV.some((n) => n.to === `/${section}`) ? `/${section}` : "/";
}

/** The organisations of a user who belongs to several, the current one marked, and the organisations that invited
 * them (choosing one joins it); nothing for a user of one organisation with no invitation. */
export function OrganisationChooser({
  memberships,
  invitations = [],
  current,
  onChoose,
}: {
  memberships: readonly MembershipChoice[];
  invitations?: readonly MembershipChoice[];
  current: string;
  onChoose: (organisationId: string) => void;
}) {
  const [open, setOpen] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  if (memberships.length < 2 && invitations.length === 0) return null;
  const close = () => {
    setOpen(false);
    toggle.current?.focus();
  };
  return (
    <>
      <button
        ref={toggle}
        type="button"
        className="link-button org-switch"
        aria-expanded={open}
        aria-controls="org-chooser"
        onClick={() => setOpen(!open)}
      >
        Switch organisation
        {invitations.length > 0 ? <span className="org-invited-count"> ({invitations.length} invited)</span> : null}
      </button>
      {open ? (
        <nav
          id="org-chooser"
          className="org-chooser"
          aria-label="Your organisations"
          onKeyDown={(e) => {
            if (e.key === "Escape") close();
          }}
        >
          <ul>
            {memberships.map((m) => (
              <li key={m.organisationId}>
                {m.organisationId === current ? (
                  <span className="org-current" aria-current="true">
                    {m.organisationName} <span className="muted small">({m.role.toLowerCase()}, current)</span>
                  </span>
                ) : (
                  <button type="button" className="link-button" onClick={() => onChoose(m.organisationId)}>
                    {m.organisationName} <span className="muted small">({m.role.toLowerCase()})</span>
                  </button>
                )}
              </li>
            ))}
          </ul>
          {invitations.length > 0 ? (
            <>
              <p className="org-chooser-note muted small">Invitations to your email (joining one makes you a member):</p>
              <ul aria-label="Invitations">
                {invitations.map((m) => (
                  <li key={m.organisationId}>
                    <button type="button" className="link-button" onClick={() => onChoose(m.organisationId)}>
                      Join {m.organisationName} <span className="muted small">(as {m.role === "ADMIN" ? "an admin" : m.role === "PROVIDER" ? "a provider user" : "a member"})</span>
                    </button>
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </nav>
      ) : null}
    </>
  );
}

export function Shell({ signOut, support, docs }: { signOut: () => void; support: string; docs: string }) {
  const [{ data, error, fetching }, refresh] = useQuery({ query: SessionDoc });
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setMenuOpen(false), [location.pathname]);
  useEffect(() => applyPrimaryColour(data?.organisation.primaryColour), [data?.organisation.primaryColour]);
  // A chosen organisation the user no longer belongs to: forget it and answer as their default membership.
  const refused = errorCode(error) === "NO_MEMBERSHIP" && chosenOrganisation() !== null;
  useEffect(() => {
    if (refused) {
      chooseOrganisation(null);
      refresh({ requestPolicy: "network-only" });
    }
  }, [refused, refresh]);

  if (!data) {
    return (
      <main id="content" className="page-alone">
        {error ? (
          <ErrorState error={error} what="session" retry={() => refresh({ requestPolicy: "network-only" })} />
        ) : (
          <Loading what={fetching ? "your organisation" : "the dashboard"} />
        )}
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      </main>
    );
  }
  const session: Session = {
    me: data.me,
    organisation: data.organisation,
    refresh: () => refresh({ requestPolicy: "network-only" }),
    signOut,
    support,
    docs,
  };
  return (
    <SessionContext.Provider value={session}>
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <header className="topbar">
        <button
          type="button"
          className="menu-button link-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <span className="org-name">{data.organisation.name}</span>
        <OrganisationChooser
          memberships={data.me.memberships}
          invitations={data.me.invitations}
          current={data.me.organisationId}
          onChoose={(id) => {
            // A fresh start in the other organisation: no page, cache or live socket of this one carries over.
            chooseOrganisation(id);
            window.location.assign(switchTarget(location.pathname));
          }}
        />
        <span className="spacer" />
        <a href={docs} className="topbar-link">
          Documentation
        </a>
        <Support address={support} />
        <span className="user-email" title={data.me.role.toLowerCase()}>
          {data.me.email ?? data.me.subject}
        </span>
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <div className="layout">
        <nav id="main-nav" className={menuOpen ? "nav open" : "nav"} aria-label="Main">
          <ul>
            {(data.me.role === "PROVIDER" ? NAV.filter((n) => n.to === "/orders") : NAV).map((item) => (
              <li key={item.to}>
                <NavLink to={item.to}>{item.label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <main id="content" tabIndex={-1}>
          <PageErrorBoundary resetKey={location.pathname}>
            <Suspense fallback={<Loading what="the page" />}>
              <Outlet />
            </Suspense>
          </PageErrorBoundary>
        </main>
      </div>
    </SessionContext.Provider>
  );
}
