// Numbers, money and dates as the dashboard shows them: the user's locale for the digits, the currency's ISO
// code always written out (amounts of several currencies sit side by side), and dates in the organisation's
// time zone (the API's days are that zone's days), which the pages name next to them.

export type MoneyValue = { amount: string | number; currency: string };

export function userLocale(): string {
  return (typeof navigator !== "undefined" && navigator.language) || "en-GB";
}

export function formatNumber(value: number, locale: string = userLocale()): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(value);
}

export function formatPercent(ratio: number | null | undefined, locale: string = userLocale()): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return "–";
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(ratio);
}

/** An amount with its currency code (`GBP 1,234.50`, `1.234,50 EUR` in de-DE): never a bare symbol. */
export function formatMoney(money: MoneyValue, locale: string = userLocale()): string {
  const amount = typeof money.amount === "number" ? money.amount : Number(money.amount);
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency: money.currency, currencyDisplay: "code" }).format(
      amount,
    );
  } catch {
    // A code Intl does not know still shows, with the digits in the locale.
    return `${money.currency} ${formatNumber(amount, locale)}`;
  }
}

/** Amounts per currency, largest first by code order; an empty list is a dash (nothing, not zero). */
export function formatMoneyList(list: readonly MoneyValue[], locale: string = userLocale()): string {
  if (list.length === 0) return "–";
  return [...list]
    .sort((a, b) => a.currency.localeCompare(b.currency))
    .map((m) => formatMoney(m, locale))
    .join(" · ");
}

/** A timestamp (UTC from the API) as the organisation's local date and time. */
export function formatDateTime(iso: string, timeZone: string, locale: string = userLocale()): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(iso));
}

/** A calendar day of the API (`2026-11-30`, already the organisation's day): shown as that day, no zone shift. */
export function formatDay(day: string, locale: string = userLocale()): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(`${day}T00:00:00Z`));
}

/** A point's start in the organisation's zone: the day for daily series, the hour for hourly ones. */
export function formatBucket(iso: string, hourly: boolean, timeZone: string, locale: string = userLocale()): string {
  const options: Intl.DateTimeFormatOptions = hourly
    ? { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone }
    : { day: "numeric", month: "short", timeZone };
  return new Intl.DateTimeFormat(locale, options).format(new Date(iso));
}

/** "Times in Europe/London": the sentence every page with dates shows. */
export function zoneNote(timeZone: string): string {
  return `Dates and times in ${timeZone.replace(/_/g, " ")} (the organisation's time zone)`;
}

/** Black or white, whichever reads better on `hex` (WCAG relative luminance): text on primary buttons. */
export function readableOn(hex: string): string {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m || m[1] === undefined) return "#ffffff";
  const n = parseInt(m[1], 16);
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
  // Contrast with white (1.05 / (L + 0.05)) against contrast with black ((L + 0.05) / 0.05).
  return 1.05 / (lum + 0.05) >= (lum + 0.05) / 0.05 ? "#ffffff" : "#111111";
}

/** A report cell (text from the API: exact decimals, ISO 8601 UTC instants) as the column's type reads. */
export function formatCell(value: string | null | undefined, type: string, timeZone: string, locale: string = userLocale()): string {
  if (value === null || value === undefined || value === "") return "–";
  switch (type) {
    case "datetime":
      return formatDateTime(value, timeZone, locale);
    case "date":
      return formatDay(value, locale);
    case "number":
      return Number.isFinite(Number(value)) ? formatNumber(Number(value), locale) : value;
    case "money":
      return Number.isFinite(Number(value))
        ? new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Number(value))
        : value;
    case "boolean":
      return value === "true" ? "Yes" : value === "false" ? "No" : value;
    default:
      return value;
  }
}

function words(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/_/g, " ")
    .toLowerCase();
}

function singular(noun: string): string {
  if (/series$|ss$/.test(noun)) return noun;
  if (noun.endsWith("ies")) return `${noun.slice(0, -3)}y`;
  return noun.endsWith("s") ? noun.slice(0, -1) : noun;
}

/** An API field path as people read it: `input.filters[0].values` → "Filter 1, values", `range.from` → "Range,
 * from", `eventType` → "Event type" (list positions count from 1). */
export function fieldLabel(path: string): string {
  const parts = path.replace(/^input\./, "").split(".").filter(Boolean);
  const text = parts
    .flatMap((part) => {
      const m = /^([^[\]]*)((?:\[\d+\])+)$/.exec(part);
      if (!m) return [words(part)];
      const indexes = [...(m[2] ?? "").matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]) + 1);
      const name = m[1] ? singular(words(m[1])) : "item";
      return [`${name} ${indexes.join(".")}`];
    })
    .join(", ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
