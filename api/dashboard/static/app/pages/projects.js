// Projects: the list with its filters and search, one page at a time.
import { get, loadReference, territory } from "../api.js";
import { el, message } from "../dom.js";
import { href } from "../route.js";
import { STATUS, projectsTable } from "./project_list.js";

// As /v1/projects names them; `instrument`, `from` and `to` keep the projects holding a
// commitment of that instrument whose effective date is in the period.
const FILTERS = ["territory", "theme", "programme", "instrument", "directorate", "status", "from", "to", "q"];

function select(name, label, options, value) {
  return el("label", {}, `${label} `, el("select", { name },
    el("option", { value: "" }, "Tous"),
    options.map(([code, text]) => el("option", { value: code, selected: code === value }, text))));
}

export async function render(view, { params }) {
  const reference = await loadReference();
  const query = Object.fromEntries(FILTERS.filter((name) => params[name]).map((name) => [name, params[name]]));
  const [page, place] = await Promise.all([
    get("/v1/projects", { ...query, limit: 50, cursor: params.cursor }),
    params.territory ? territory(params.territory).catch(() => null) : null,
  ]);
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filtrer les projets" },
    el("label", {}, "Recherche ", el("input", { type: "search", name: "q", value: params.q ?? "" })),
    el("label", {}, "Territoire (code) ", el("input", { type: "text", name: "territory", value: params.territory ?? "", placeholder: "departement:62", list: "territory-list" })),
    el("datalist", { id: "territory-list" }),
    select("theme", "Thème", reference.themes.map((t) => [t.code, t.label]), params.theme),
    select("programme", "Programme", reference.programmes.map((t) => [t.code, t.label]), params.programme),
    select("instrument", "Instrument", reference.instruments.map((t) => [t.code, t.label]), params.instrument),
    select("directorate", "Direction", reference.directorates.map((t) => [t.code, t.label]), params.directorate),
    select("status", "Statut", Object.entries(STATUS), params.status),
    el("label", {}, "Engagé du ", el("input", { type: "date", name: "from", value: params.from ?? "" })),
    el("label", {}, "au ", el("input", { type: "date", name: "to", value: params.to ?? "" })),
    el("button", { type: "submit" }, "Filtrer"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form)].filter(([, value]) => value));
    location.hash = href("projects", null, data);
  });
  const territoryInput = form.querySelector("input[name=territory]");
  territoryInput.addEventListener("input", async () => {
    const text = territoryInput.value.trim();
    if (text.length < 2 || text.includes(":")) return;
    const found = await get("/v1/territories", { q: text, limit: 10 }).catch(() => ({ items: [] }));
    form.querySelector("datalist").replaceChildren(...found.items.map((t) => el("option", { value: t.code }, `${t.name} (${t.level})`)));
  });
  const caption = `Projets${place ? ` — ${place.name}` : ""}`;
  view.replaceChildren(
    el("h1", {}, "Projets"),
    form,
    page.items.length ? projectsTable("projets", caption, page.items) : message("Aucun projet ne répond à ces filtres."),
    el("nav", { class: "pager", "aria-label": "Pages" },
      params.cursor ? el("a", { href: href("projects", null, query) }, "Première page") : null,
      page.next_cursor ? el("a", { href: href("projects", null, { ...query, cursor: page.next_cursor }) }, "Page suivante") : null),
  );
}
