// The dashboard's shell: navigation, token, status strip, shared filters and the router.
import { ApiError, get, loadReference, onUnauthorized, setToken, token } from "./api.js";
import { el, message } from "./dom.js";
import { count } from "./format.js";
import { current, href, TOTALS_FILTERS } from "./route.js";
import * as conventions from "./pages/conventions.js";
import * as map from "./pages/map.js";
import * as overview from "./pages/overview.js";
import * as project from "./pages/project.js";
import * as projects from "./pages/projects.js";
import * as territory from "./pages/territory.js";

const PAGES = { overview, map, territory, projects, project, conventions };
const FILTERED = new Set(["overview", "map", "territory"]);
const view = document.getElementById("view");
const notice = document.getElementById("token-notice");
let rendering = 0;

function tokenForm() {
  const form = document.getElementById("token-form");
  const input = form.querySelector("input");
  const forget = document.getElementById("token-forget");
  const sync = () => {
    forget.hidden = !token();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    input.value = "";
    sync();
    try {
      await get("/v1/projections");
      notice.replaceChildren(message("Jeton accepté pour cette session.", "ok"));
      statusStrip();
      show();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) notice.replaceChildren(message(`Vérification impossible : ${error.message}`, "error"));
    }
  });
  forget.addEventListener("click", () => {
    setToken(null);
    sync();
    notice.replaceChildren(message("Jeton oublié.", "ok"));
    show();
  });
  onUnauthorized((error) => {
    if (error.bearer !== token()) return; // an answer to a request sent before the token changed
    const had = Boolean(token());
    if (had) setToken(null);
    sync();
    notice.replaceChildren(message(had
      ? `Jeton refusé : ${error.message}. Il a été oublié ; saisissez-en un autre.`
      : "Cette instance ne permet pas la lecture sans jeton : saisissez un jeton.", "error"));
  });
  sync();
}

async function statusStrip() {
  const strip = document.getElementById("status");
  try {
    const answer = await get("/v1/projections");
    const parts = answer.items.map((item) => {
      const state = { live: "à jour", rebuilding: "reconstruction en cours", stopped: "arrêté" }[item.state] ?? item.state;
      const lag = item.lag_events ? `, ${count(item.lag_events)} événements de retard (${Number(item.lag_seconds ?? 0).toFixed(1)} s)` : "";
      return el("span", { class: `projection ${item.state}` }, `${item.name === "totals" ? "Totaux" : "Projets"} : ${state}${lag}`);
    });
    strip.replaceChildren(el("span", {}, "Modèles de lecture — "), ...parts);
  } catch {
    strip.replaceChildren(el("span", {}, "État des modèles de lecture indisponible."));
  }
}

async function filterBar(route) {
  const bar = document.getElementById("filters");
  if (!FILTERED.has(route.page)) {
    bar.hidden = true;
    return;
  }
  const reference = await loadReference();
  const params = route.params;
  const update = (name, value) => {
    location.hash = href(route.page, route.arg, { ...params, [name]: value || undefined });
  };
  const choose = (name, label, items) => el("label", {}, `${label} `, el("select", { name, onchange: (event) => update(name, event.target.value) },
    el("option", { value: "" }, "Tous"), items.map((item) => el("option", { value: item.code, selected: item.code === params[name] }, item.label))));
  const day = (name, label) => el("label", {}, `${label} `, el("input", { type: "date", name, value: params[name] ?? "", onchange: (event) => update(name, event.target.value) }));
  const active = TOTALS_FILTERS.some((name) => params[name]);
  bar.replaceChildren(el("h2", { class: "visually-hidden" }, "Filtres"),
    choose("theme", "Thème", reference.themes),
    choose("instrument", "Instrument", reference.instruments),
    choose("programme", "Programme", reference.programmes),
    choose("directorate", "Direction", reference.directorates),
    day("from", "Du"), day("to", "Au"),
    ...(active ? [el("a", { href: href(route.page, route.arg, Object.fromEntries(Object.entries(params).filter(([name]) => !TOTALS_FILTERS.includes(name)))) }, "Effacer les filtres")] : []));
  bar.hidden = false;
}

async function show() {
  const route = current();
  const page = PAGES[route.page] ?? overview;
  const ticket = ++rendering;
  for (const link of document.querySelectorAll("#nav a")) {
    const active = link.dataset.page === route.page || (route.page === "territory" && link.dataset.page === "map") || (route.page === "project" && link.dataset.page === "projects");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.setAttribute("aria-busy", "true");
  delete view.dataset.rendered;
  const target = el("div", {});
  try {
    await Promise.all([filterBar(route), page.render(target, route)]);
    if (ticket !== rendering) return;
    view.replaceChildren(...target.childNodes);
    view.dataset.rendered = location.hash || "#/overview";
    const drawn = view.dataset.rendered;
    performance.mark(`rendered ${drawn}`);
    // The frame after the next animation frame: the new content has been painted.
    requestAnimationFrame(() => setTimeout(() => performance.mark(`painted ${drawn}`), 0));
    document.title = `${view.querySelector("h1")?.textContent ?? "Tableau de bord"} — funding-tracker`;
  } catch (error) {
    if (ticket !== rendering) return;
    if (error instanceof ApiError && error.status === 401) {
      view.replaceChildren(el("h1", {}, "Jeton nécessaire"), message("Saisissez un jeton d'accès en haut de la page pour voir ces chiffres."));
      return;
    }
    const text = error instanceof ApiError ? `${error.status} : ${error.message}` : error.message;
    view.replaceChildren(el("h1", {}, "Page indisponible"), message(`La lecture a échoué (${text}).`, "error"));
  } finally {
    if (ticket === rendering) view.removeAttribute("aria-busy");
  }
}

document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
tokenForm();
statusStrip();
setInterval(statusStrip, 15000);
window.addEventListener("hashchange", show);
show();
