// Placeholder while this page is being built.
export default function InsightDashboards() {
  return (
    <section>
      <h1>Dashboards</h1>
      <p>This page is being built.</p>
    </section>
  );
}
