// Curating an integration's products (seed 000: "curate different products and services for your embedded
// integrations"): the rules kept apart from the page so they are tested without a browser.

/** The ids in their new order after moving the one at `index` by `delta` places; unchanged at either end. */
export function moved(ids: readonly string[], index: number, delta: -1 | 1): string[] {
  const to = index + delta;
  if (index < 0 || index >= ids.length || to < 0 || to >= ids.length) return [...ids];
  const next = [...ids];
  const [id] = next.splice(index, 1);
  if (id !== undefined) next.splice(to, 0, id);
  return next;
}

/** The catalogue entries not yet in the integration (one product per catalogue entry), by name. */
export function addable<C extends { id: string; name: string }>(
  catalogue: readonly C[],
  products: readonly { catalogueProductId?: string | null }[],
): C[] {
  const taken = new Set(products.map((p) => p.catalogueProductId).filter((x): x is string => Boolean(x)));
  return catalogue.filter((c) => !taken.has(c.id)).sort((a, b) => a.name.localeCompare(b.name));
}

/** A refusal of the API as a sentence for the product's row: PRODUCT_IN_USE says what to do instead. */
export function refusal(error: { code?: string | null; message: string } | undefined, fallback: string): string {
  if (!error) return fallback;
  if (error.code === "PRODUCT_IN_USE") {
    return "This product has orders, so it cannot be removed: switch it off instead (its orders stay, it takes no new ones).";
  }
  return error.message;
}
