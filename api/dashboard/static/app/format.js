// French formats. Money arrives as exact decimal strings: Intl formats the string itself
// (no float on the way), whole euros without decimals, cents when there are any.
const euros = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR", maximumFractionDigits: 0 });
const cents = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR", minimumFractionDigits: 2 });
const integer = new Intl.NumberFormat("fr-FR");
const decimal = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 2 });
const day = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const instant = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeStyle: "short", timeZone: "Europe/Paris" });

export function money(value) {
  if (value === null || value === undefined || value === "") return "—";
  const text = String(value);
  return /\.(?!0+$)\d+$/.test(text) ? cents.format(text) : euros.format(text);
}

export function count(value) {
  return value === null || value === undefined ? "—" : integer.format(value);
}

export function number(value) {
  return value === null || value === undefined ? "—" : decimal.format(String(value));
}

export function date(iso) {
  if (!iso) return "—";
  const [y, m, d] = iso.split("-").map(Number);
  return day.format(new Date(Date.UTC(y, m - 1, d)));
}

export function timestamp(iso) {
  return iso ? instant.format(new Date(iso)) : "—";
}

// A figure's value as a number, for bar lengths and colour classes only.
export function magnitude(value) {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

export const FIGURES = {
  net_committed: "Engagé net",
  committed: "Engagé brut",
  disbursed: "Décaissé",
  to_disburse: "Reste à décaisser",
  outstanding: "Encours",
  repaid: "Remboursé",
  cancelled: "Annulé",
  projects: "Projets",
  commitments: "Engagements",
};

export function figure(name, value) {
  return name === "projects" || name === "commitments" ? count(value) : money(value);
}
