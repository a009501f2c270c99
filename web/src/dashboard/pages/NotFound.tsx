// An address the dashboard has no page for (a mistyped or outdated link): say so plainly and offer the section
// the address starts with (when it is one of the menu's) and Analytics.
import { Link, useLocation } from "react-router";
import { NAV } from "../Shell";

export default function NotFound() {
  const { pathname } = useLocation();
  const item = NAV.find((n) => pathname === n.to || pathname.startsWith(`${n.to}/`));
  return (
    <section aria-labelledby="not-found-title">
      <h1 id="not-found-title">Page not found</h1>
      <p>
        There is no page at <code>{pathname}</code>: the link may be mistyped or out of date.
      </p>
      <ul className="not-found-links">
        {item && item.to !== "/analytics" ? (
          <li>
            <Link to={item.to}>Go to {item.label}</Link>
          </li>
        ) : null}
        <li>
          <Link to="/analytics">Go to Analytics</Link>
        </li>
      </ul>
    </section>
  );
}
