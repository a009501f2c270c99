// The Reports area's sub-navigation: the catalogue, schedules, run history and (admins define them) custom fields.
import { NavLink } from "react-router";

const LINKS: { to: string; label: string; end?: boolean }[] = [
  { to: "/reports", label: "Catalogue", end: true },
  { to: "/reports/schedules", label: "Schedules" },
  { to: "/reports/runs", label: "Run history" },
  { to: "/reports/custom-fields", label: "Custom fields" },
];

export function ReportsNav() {
  return (
    <nav className="reports-nav" aria-label="Reports area">
      <ul>
        {LINKS.map((l) => (
          <li key={l.to}>
            <NavLink to={l.to} end={l.end} className={({ isActive }) => (isActive ? "tab active" : "tab")}>
              {l.label}
            </NavLink>
          </li>
        ))}
      </ul>
    </nav>
  );
}
