// Tabs whose pages are not built yet: the navigation names them, the page says so and where the data is today.
import { Link, useLocation } from "react-router";
import { NAV } from "../Shell";

export default function Coming() {
  const { pathname } = useLocation();
  const item = NAV.find((n) => pathname.startsWith(n.to));
  if (!item) {
    return (
      <section>
        <h1>Page not found</h1>
        <p>
          There is no page at {pathname}. <Link to="/analytics">Go to Analytics</Link>.
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>{item.label}</h1>
      <p>This page is coming to the dashboard. Its data is already in the API: see the Documentation link above.</p>
    </section>
  );
}
