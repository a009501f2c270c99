// Placeholder while this page is being built.
export default function ReportSchedules() {
  return (
    <section>
      <h1>Report schedules</h1>
      <p>This page is being built.</p>
    </section>
  );
}
