// Placeholder while this page is being built.
export default function Activity() {
  return (
    <section>
      <h1>Activity</h1>
      <p>This page is being built.</p>
    </section>
  );
}
