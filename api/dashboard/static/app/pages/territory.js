// Drill-down: région → département → EPCI → commune, each a sorted table with bars, its map
// where the boundaries exist, and the projects placed there.
import { get, territory, totals } from "../api.js";
import { el } from "../dom.js";
import { FIGURES } from "../format.js";
import { choropleth } from "../map.js";
import { href, pick, TOTALS_FILTERS } from "../route.js";
import { cards } from "./overview.js";
import { territoryTable, territoryValues } from "./map.js";
import { projectsTable } from "./project_list.js";

const CHILD = { region: "departement", departement: "epci", epci: "commune", commune: null };
const LEVEL = { region: "Région", departement: "Département", epci: "Intercommunalité", commune: "Commune" };
const PLURAL = { departement: "départements", epci: "intercommunalités", commune: "communes" };

// The trail from France down to a territory; `within` when a page below it (a project) is shown.
export async function breadcrumbs(place, params, within = false) {
  const parents = await Promise.all([...place.parents].reverse().map((code) => territory(code)));
  const filters = pick(params, TOTALS_FILTERS);
  return el("nav", { class: "breadcrumbs", "aria-label": "Fil d'Ariane" }, el("ol", {},
    el("li", {}, el("a", { href: href("map", null, filters) }, "France")),
    parents.map((parent) => el("li", {}, el("a", { href: href("territory", parent.code, filters) }, parent.name))),
    el("li", {}, within ? el("a", { href: href("territory", place.code, filters) }, place.name) : el("span", { "aria-current": "page" }, place.name))));
}

export async function render(view, { arg: code, params }) {
  const filters = pick(params, TOTALS_FILTERS);
  const field = FIGURES[params.figure] ? params.figure : "net_committed";
  // The code names its level: every question can be asked at once.
  const child = CHILD[code.split(":")[0]];
  const [place, own, children, projects] = await Promise.all([
    territory(code),
    totals("", { ...filters, territory: code }),
    child ? totals(child, { ...filters, territory: code }) : null,
    get("/v1/projects", { ...filters, territory: code, limit: 200 }),
  ]);
  const region = place.level === "region" ? code : place.parents.at(-1);
  const [crumbs, siblings] = await Promise.all([
    breadcrumbs(place, params),
    place.level === "departement" ? totals("departement", { ...filters, territory: region }) : null,
  ]);
  const parts = [crumbs, el("h1", {}, `${place.name} `, el("small", {}, `${LEVEL[place.level]} · ${code}`)), cards(own.total)];
  if (place.level === "region" || place.level === "departement") {
    // A département is shown among its région's départements, outlined.
    const rows = place.level === "region" ? children.rows : siblings.rows;
    parts.push(await choropleth({ level: "departement", field, values: territoryValues(rows, "departement", field), only: region, current: code, title: `Carte : ${place.name}`, link: (target) => href("territory", target, filters) }));
  }
  if (child) {
    const title = `${FIGURES[field]} par ${PLURAL[child]} — ${place.name}`;
    parts.push(el("h2", {}, title), territoryTable(`${code.replace(":", "-")}-${child}`, title, children.rows, child, field, params));
  }
  parts.push(el("h2", {}, `Projets — ${place.name}`));
  parts.push(projectsTable(`projets-${code.replace(":", "-")}`, `Projets — ${place.name}`, projects.items));
  if (projects.next_cursor) parts.push(el("p", {}, el("a", { href: href("projects", null, { ...filters, territory: code }) }, "Tous les projets de ce territoire")));
  view.replaceChildren(...parts);
}
