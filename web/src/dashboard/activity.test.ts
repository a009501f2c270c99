import { describe, expect, it } from "vitest";
import { filterFromParams, formatEventTime, filterInput, filterKey, kindLabel, mergeLive, newestFirst, nextCursor, paramsWith, union, type Entry } from "./activity";

const e = (id: string, at: string): Entry => ({ cursor: `c-${id}`, node: { id, at } });

describe("the activity feed's filter in the URL", () => {
  it("reads the class and the types, ignoring an unknown class and repeats", () => {
    const f = filterFromParams(new URLSearchParams("class=BEHAVIOUR&type=visit&type=click&type=visit&x=1"));
    expect(f).toEqual({ klass: "BEHAVIOUR", types: ["click", "visit"] });
    expect(filterFromParams(new URLSearchParams("class=ORDER")).klass).toBeNull();
  });

  it("sends only what is set; nothing set is no filter", () => {
    expect(filterInput({ klass: null, types: [] })).toBeNull();
    expect(filterInput({ klass: "FUNNEL", types: [] })).toEqual({ classes: ["FUNNEL"] });
    expect(filterInput({ klass: null, types: ["visit"] })).toEqual({ types: ["visit"] });
  });

  it("writes a filter back into the URL, other parameters kept, and keys it", () => {
    const next = paramsWith(new URLSearchParams("class=FUNNEL&type=a&keep=1"), { klass: null, types: ["b"] });
    expect(next.toString()).toBe("keep=1&type=b");
    expect(filterKey(filterFromParams(next))).toBe("|b");
    expect(filterKey({ klass: "FUNNEL", types: ["a", "b"] })).toBe("FUNNEL|a,b");
  });
});

describe("the feed's order and live pushes", () => {
  it("orders newest first to the microsecond, then by id", () => {
    const list = [
      e("a", "2026-12-01T10:00:00+00:00"),
      e("b", "2026-12-01T10:00:00.000002+00:00"),
      e("c", "2026-12-01T10:00:00.000001+00:00"),
      e("d", "2026-12-01T10:00:00.000002+00:00"),
      e("e", "2026-12-01T11:00:00Z"),
    ];
    expect([...list].sort(newestFirst).map((x) => x.node.id)).toEqual(["e", "d", "b", "c", "a"]);
  });

  it("joins two lists without repeating an entry", () => {
    const merged = union([e("2", "2026-12-01T10:02:00Z"), e("1", "2026-12-01T10:01:00Z")], [e("3", "2026-12-01T10:03:00Z"), e("2", "2026-12-01T10:02:00Z")]);
    expect(merged.map((x) => x.node.id)).toEqual(["3", "2", "1"]);
  });

  it("puts pushed entries on top and keeps the pages already loaded", () => {
    const shown = { entries: [e("2", "2026-12-01T10:02:00Z"), e("1", "2026-12-01T10:01:00Z")], hasNext: true };
    const next = mergeLive(shown, [e("4", "2026-12-01T10:04:00Z"), e("3", "2026-12-01T10:03:00Z"), e("2", "2026-12-01T10:02:00Z")], true);
    expect(next.entries.map((x) => x.node.id)).toEqual(["4", "3", "2", "1"]);
    expect(next.hasNext).toBe(true);
    expect(nextCursor(next)).toBe("c-1");
  });

  it("starts again from the pushed page when it leaves a gap (no overlap, more after it)", () => {
    const shown = { entries: [e("1", "2026-12-01T10:01:00Z")], hasNext: false };
    const pushed = [e("9", "2026-12-01T10:09:00Z"), e("8", "2026-12-01T10:08:00Z")];
    const next = mergeLive(shown, pushed, true);
    expect(next.entries.map((x) => x.node.id)).toEqual(["9", "8"]);
    expect(nextCursor(next)).toBe("c-8");
    // no more after the pushed page: nothing can be missing, the lists join
    expect(mergeLive(shown, pushed, false).entries.map((x) => x.node.id)).toEqual(["9", "8", "1"]);
  });

  it("has no next cursor at the oldest event", () => {
    expect(nextCursor({ entries: [e("1", "2026-12-01T10:01:00Z")], hasNext: false })).toBeNull();
    expect(kindLabel("ORDER_PLACED")).toBe("order placed");
  });

  it("writes an event's time to the second in the organisation's zone", () => {
    expect(formatEventTime("2026-07-01T10:04:05.123456+00:00", "Europe/London", "en-GB")).toBe("1 Jul 2026, 11:04:05");
  });
});
