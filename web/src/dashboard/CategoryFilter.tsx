// The seed's category search: type a category's name; the match filters the page (?category=<id>).
import { useId, useState } from "react";

export type CategoryOption = { id: string; name: string };

export function CategoryFilter({
  categories,
  value,
  onChange,
}: {
  categories: readonly CategoryOption[];
  value: string | null;
  onChange: (id: string | null) => void;
}) {
  const listId = useId();
  const selected = categories.find((c) => c.id === value) ?? null;
  const [text, setText] = useState(selected?.name ?? "");
  const choose = (typed: string) => {
    setText(typed);
    const match = categories.find((c) => c.name.toLowerCase() === typed.trim().toLowerCase());
    if (match) onChange(match.id);
    else if (typed.trim() === "") onChange(null);
  };
  return (
    <div className="category-filter">
      <label>
        Category{" "}
        <input
          type="search"
          list={listId}
          value={text}
          placeholder="All categories"
          onChange={(e) => choose(e.target.value)}
          aria-describedby={`${listId}-hint`}
        />
      </label>
      <datalist id={listId}>
        {categories.map((c) => (
          <option key={c.id} value={c.name} />
        ))}
      </datalist>
      <span id={`${listId}-hint`} className="muted small">
        {selected ? `Showing ${selected.name}` : "Type a category to filter"}
      </span>
      {selected ? (
        <button type="button" className="link-button" onClick={() => choose("")}>
          Clear
        </button>
      ) : null}
    </div>
  );
}
