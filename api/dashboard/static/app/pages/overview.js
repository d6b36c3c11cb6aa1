// Overview: the grand totals, then where the money goes by theme, instrument, directorate,
// territory band and year.
import { totals } from "../api.js";
import { barChart, yearChart } from "../charts.js";
import { el } from "../dom.js";
import { FIGURES, figure } from "../format.js";
import { href, pick, TOTALS_FILTERS } from "../route.js";

const CARDS = ["net_committed", "disbursed", "to_disburse", "outstanding", "projects"];
const NULL_LABEL = { band: "Départements et régions", instrument: "Sans engagement", theme: "Non renseigné", directorate: "Non renseignée" };
const BREAKDOWNS = [
  ["theme", "par thème", "Thème"],
  ["instrument", "par instrument", "Instrument"],
  ["directorate", "par direction régionale", "Direction"],
  ["band", "par taille de territoire", "Taille"],
];

export function cards(total) {
  return el("dl", { class: "cards" }, CARDS.map((name) => el("div", { class: "card" },
    el("dt", {}, FIGURES[name]),
    el("dd", { dataset: { field: name, value: total[name] } }, figure(name, total[name])))),
  el("div", { class: "card minor" },
    el("dt", {}, "Engagé brut / annulé"),
    el("dd", { dataset: { field: "committed", value: total.committed } }, `${figure("committed", total.committed)} / ${figure("cancelled", total.cancelled)}`)));
}

export async function render(view, { params }) {
  const filters = pick(params, TOTALS_FILTERS);
  const field = FIGURES[params.figure] ? params.figure : "net_committed";
  const [all, years, ...parts] = await Promise.all([
    totals("", filters),
    totals("year", filters),
    ...BREAKDOWNS.map(([dimension]) => totals(dimension, filters)),
  ]);
  const charts = BREAKDOWNS.map(([dimension, title, header], index) => barChart(
    `par-${dimension}`,
    `${FIGURES[field]} ${title}`,
    parts[index].rows
      .filter((row) => row[dimension] !== null || Number(row[field]) !== 0)
      .map((row) => ({ code: row[dimension], label: (row[`${dimension}_label`] ?? NULL_LABEL[dimension]).replace(/^Direction régionale /, ""), value: row[field] })),
    field,
    { dimension: header, onSelect: ["theme", "instrument", "directorate"].includes(dimension) ? (row) => href("overview", null, { ...params, [dimension]: row.code }) : null },
  ));
  const choose = el("label", { class: "figure-choice" }, "Chiffre des graphiques ",
    el("select", { name: "figure", onchange: (event) => { location.hash = href("overview", null, { ...params, figure: event.target.value }); } },
      Object.entries(FIGURES).filter(([name]) => name !== "commitments").map(([name, label]) => el("option", { value: name, selected: name === field }, label))));
  view.replaceChildren(
    el("h1", {}, "Vue d'ensemble"),
    el("p", { class: "position" }, `Chiffres du grand livre à la position ${all.position}.`),
    cards(all.total),
    choose,
    el("div", { class: "chart-grid" },
      yearChart("par-annee", "Engagé et décaissé par année", years.rows),
      charts),
  );
}
