// Preset tabs and a custom range (two day fields): the seed's date picker. The choice goes into the URL.
import { useState } from "react";
import { PRESETS, type RangeValue } from "./range";

export function RangePicker({ value, onChange }: { value: RangeValue; onChange: (range: RangeValue) => void }) {
  const [from, setFrom] = useState("preset" in value ? "" : value.from);
  const [to, setTo] = useState("preset" in value ? "" : value.to);
  const [problem, setProblem] = useState<string | null>(null);
  const apply = (event: React.FormEvent) => {
    event.preventDefault();
    if (!from || !to) return setProblem("Choose both the first and the last day.");
    if (from > to) return setProblem("The first day must not be after the last day.");
    setProblem(null);
    onChange({ from, to });
  };
  return (
    <div className="range-picker">
      <div role="group" aria-label="Date range presets" className="tabs">
        {PRESETS.map((p) => (
          <button
            key={p.value}
            type="button"
            className={"preset" in value && value.preset === p.value ? "tab active" : "tab"}
            aria-pressed={"preset" in value && value.preset === p.value}
            onClick={() => onChange({ preset: p.value })}
          >
            {p.label}
          </button>
        ))}
      </div>
      <form className="custom-range" onSubmit={apply} aria-label="Custom date range">
        <label>
          From <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          To <input type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <button type="submit" className="button">
          Apply
        </button>
        {problem ? (
          <span role="alert" className="field-error">
            {problem}
          </span>
        ) : null}
      </form>
    </div>
  );
}
