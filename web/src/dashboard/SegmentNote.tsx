// "Only the customers of segment X": shown above a list filtered by ?segment=<id> (Customers, Orders), naming the
// segment and offering to clear the filter, so a shared link never filters silently.
import { Link } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../gql";

const SegmentName = graphql(`
  query SegmentName($id: ID!) {
    segment(id: $id) {
      id
      name
    }
  }
`);

export function SegmentNote({ id, onClear }: { id: string | null; onClear: () => void }) {
  const [{ data }] = useQuery({ query: SegmentName, variables: { id: id ?? "" }, pause: !id });
  if (!id) return null;
  const name = data?.segment?.name;
  return (
    <p className="muted segment-note" role="status">
      Only the customers of the segment{" "}
      {name ? <Link to={`/segments?segment=${id}`}>{name}</Link> : <span>{data && !data.segment ? "(not found)" : "…"}</span>}.{" "}
      <button type="button" className="link-button" onClick={onClear}>
        Show everyone
      </button>
    </p>
  );
}
