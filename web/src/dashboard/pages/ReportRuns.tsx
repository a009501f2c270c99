// Placeholder while this page is being built.
export default function ReportRuns() {
  return (
    <section>
      <h1>Report runs</h1>
      <p>This page is being built.</p>
    </section>
  );
}
