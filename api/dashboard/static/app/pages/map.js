// The map: régions or départements coloured by the chosen figure; a click drills down.
import { totals } from "../api.js";
import { el, table } from "../dom.js";
import { FIGURES, figure } from "../format.js";
import { choropleth } from "../map.js";
import { href, pick, TOTALS_FILTERS } from "../route.js";

export function territoryValues(rows, level, field) {
  return new Map(rows.filter((row) => row[level]).map((row) => [row[level], { name: row[`${level}_label`], value: row[field] }]));
}

export function territoryTable(name, caption, rows, level, field, params) {
  const columns = [
    { header: "Territoire", key: `${level}_label`, show: (row) => row[level] ? el("a", { href: href("territory", row[level], pick(params, TOTALS_FILTERS)) }, row[`${level}_label`]) : "Non ventilé (niveau supérieur)" },
    { header: "Code", key: level },
    { header: FIGURES[field], key: field, numeric: true, show: (row) => figure(field, row[field]) },
    ...["net_committed", "disbursed", "projects"].filter((f) => f !== field).map((f) => ({ header: FIGURES[f], key: f, numeric: true, show: (row) => figure(f, row[f]) })),
  ];
  const sorted = [...rows].sort((a, b) => Number(b[field]) - Number(a[field]));
  return table(name, caption, columns, sorted, { barKey: field });
}

export async function render(view, { params }) {
  const level = params.level === "departement" ? "departement" : "region";
  const field = FIGURES[params.figure] ? params.figure : "net_committed";
  const answer = await totals(level, pick(params, TOTALS_FILTERS));
  const link = (code) => href("territory", code, pick(params, TOTALS_FILTERS));
  const title = `${FIGURES[field]} par ${level === "region" ? "région" : "département"}`;
  const map = await choropleth({ level, field, values: territoryValues(answer.rows, level, field), link, title });
  view.replaceChildren(
    el("h1", {}, "Carte"),
    el("form", { class: "map-controls", "aria-label": "Réglages de la carte", onsubmit: (event) => event.preventDefault() },
      el("label", {}, "Chiffre affiché ",
        el("select", { name: "figure", onchange: (event) => { location.hash = href("map", null, { ...params, figure: event.target.value }); } },
          Object.entries(FIGURES).filter(([name]) => name !== "commitments").map(([name, label]) => el("option", { value: name, selected: name === field }, label)))),
      el("fieldset", {}, el("legend", {}, "Découpage"),
        [["region", "Régions"], ["departement", "Départements"]].map(([value, label]) => el("label", {},
          el("input", { type: "radio", name: "level", value, checked: value === level, onchange: () => { location.hash = href("map", null, { ...params, level: value }); } }), ` ${label}`)))),
    el("h2", {}, title),
    map,
    territoryTable(`carte-${level}`, title, answer.rows, level, field, params),
  );
}
