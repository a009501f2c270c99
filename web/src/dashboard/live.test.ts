import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { throttle } from "./live";

describe("throttle (live re-reads)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs the first trigger at once", () => {
    const run = vi.fn();
    throttle(run, 2000).trigger();
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("collapses a burst into one trailing run after the gap", () => {
    const run = vi.fn();
    const t = throttle(run, 2000);
    t.trigger();
    for (let i = 0; i < 30; i++) {
      vi.advanceTimersByTime(50);
      t.trigger();
    }
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(2000);
    expect(run).toHaveBeenCalledTimes(2); // the last change is shown
    vi.advanceTimersByTime(10_000);
    expect(run).toHaveBeenCalledTimes(2); // and nothing more without a new push
  });

  it("runs at once again once the gap has passed", () => {
    const run = vi.fn();
    const t = throttle(run, 2000);
    t.trigger();
    vi.advanceTimersByTime(2500);
    t.trigger();
    expect(run).toHaveBeenCalledTimes(2);
  });

  it("a cancelled trailing run does not fire (the page left)", () => {
    const run = vi.fn();
    const t = throttle(run, 2000);
    t.trigger();
    t.trigger();
    t.cancel();
    vi.advanceTimersByTime(5000);
    expect(run).toHaveBeenCalledTimes(1);
  });
});
