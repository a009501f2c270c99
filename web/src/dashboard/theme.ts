// The organisation's primary colour (Settings) on the app's primary buttons and links, at once: two CSS
// variables on the root element (a style property set from script, which the page's CSP allows).
import { readableOn } from "./format";

export const DEFAULT_PRIMARY = "#1E5EFF";

export function applyPrimaryColour(colour: string | null | undefined): void {
  const value = colour && /^#[0-9a-fA-F]{6}$/.test(colour) ? colour : DEFAULT_PRIMARY;
  const root = document.documentElement;
  root.style.setProperty("--primary", value);
  root.style.setProperty("--on-primary", readableOn(value));
}
