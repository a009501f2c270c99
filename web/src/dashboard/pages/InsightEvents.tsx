// Placeholder while this page is being built.
export default function InsightEvents() {
  return (
    <section>
      <h1>Events behind a bar</h1>
      <p>This page is being built.</p>
    </section>
  );
}
