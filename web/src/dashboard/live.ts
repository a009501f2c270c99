// Live pages re-read their figures when the gateway pushes a change. While a burst of events is being ingested
// pushes arrive several times a second: re-reading (and redrawing) at each would keep the page and the API busy
// for the whole burst. A re-read runs at once for the first push, then at most once per `gapMs`, with one trailing
// re-read so that the last change is always shown.
import { useEffect, useRef } from "react";

export const LIVE_GAP_MS = 2000;

export type Throttle = { trigger: () => void; cancel: () => void };

/** `run` at the first trigger, then at most once per `gapMs`; triggers in between collapse into one later run. */
export function throttle(run: () => void, gapMs: number, now: () => number = Date.now): Throttle {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const fire = () => {
    timer = null;
    last = now();
    run();
  };
  return {
    trigger() {
      if (timer !== null) return; // a run is already due: it will show this change too
      const wait = last + gapMs - now();
      if (wait <= 0) fire();
      else timer = setTimeout(fire, wait);
    },
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** Calls `run` (throttled as above) each time `key` changes to a new non-null value. */
export function useThrottledOnChange(key: string | null, run: () => void, gapMs: number = LIVE_GAP_MS): void {
  const latest = useRef(run);
  latest.current = run;
  const throttled = useRef<Throttle | null>(null);
  useEffect(() => {
    const t = throttle(() => latest.current(), gapMs);
    throttled.current = t;
    return () => t.cancel();
  }, [gapMs]);
  useEffect(() => {
    if (key !== null) throttled.current?.trigger();
  }, [key]);
}
