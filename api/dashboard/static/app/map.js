// Choropleth of régions or départements from the shipped boundaries (api/dashboard/static/map).
import { el } from "./dom.js";
import { figure, magnitude } from "./format.js";

let shapes = null;
export function loadShapes() {
  shapes ??= fetch("/dashboard/map/france.json").then((response) => {
    if (!response.ok) throw new Error("carte indisponible");
    return response.json();
  });
  return shapes;
}

const CLASSES = 5;

function breaks(values) {
  const sorted = values.filter((v) => v > 0).sort((a, b) => a - b);
  if (!sorted.length) return [];
  return Array.from({ length: CLASSES - 1 }, (_, i) => sorted[Math.floor(((i + 1) * sorted.length) / CLASSES)]);
}

function shade(value, limits) {
  if (!(value > 0)) return "shade-none";
  let index = 0;
  while (index < limits.length && value >= limits[index]) index++;
  return `shade-${index}`;
}

// values: Map code ("region:32" | "departement:59") → {value, name}; link(code) → href.
// only: a région or département code to zoom on; level: "region" | "departement".
export async function choropleth({ level, field, values, link, only = null, current = null, title }) {
  const data = await loadShapes();
  const limits = breaks([...values.values()].map((v) => magnitude(v.value)));
  const main = el("svg:svg", { viewBox: data.viewBox, class: "map", role: "group", "aria-label": title });
  const groups = new Map();
  const focusable = (code, node) => {
    const entry = values.get(code);
    const name = entry?.name ?? code;
    const text = `${name} : ${entry ? figure(field, entry.value) : "aucun montant"}`;
    node.setAttribute("class", `area ${shade(magnitude(entry?.value), limits)}`);
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "link");
    node.setAttribute("aria-label", text);
    node.append(el("svg:title", {}, text));
    const follow = () => { location.hash = link(code); };
    node.addEventListener("click", follow);
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        follow();
      }
    });
    return node;
  };
  for (const dep of data.departements) {
    if (only && `region:${dep.region}` !== only && `departement:${dep.code}` !== only) continue;
    const path = el("svg:path", { d: dep.d });
    if (level === "region") {
      const code = `region:${dep.region}`;
      if (!groups.has(code)) {
        groups.set(code, focusable(code, el("svg:g", {})));
        groups.get(code).classList.add("merged");
        main.append(groups.get(code));
      }
      groups.get(code).append(path);
    } else {
      main.append(focusable(`departement:${dep.code}`, path));
      if (current === `departement:${dep.code}`) path.classList.add("current");
    }
  }
  const insets = el("div", { class: "insets" });
  for (const zone of data.overseas) {
    const region = `region:${zone.region}`;
    if (only && region !== only && `departement:${zone.departement}` !== only) continue;
    // Overseas régions are also their one département: both levels link to the same shape.
    const code = level === "region" ? region : `departement:${zone.departement}`;
    const entry = values.get(code);
    const svg = el("svg:svg", { class: "inset" }, focusable(code, el("svg:path", { d: zone.d })));
    insets.append(el("div", { class: "inset-box" }, svg, el("span", { "aria-hidden": "true" }, entry?.name ?? zone.name)));
  }
  const wrapper = el("div", { class: only ? "map-wrap zoomed" : "map-wrap" }, main, insets.children.length ? insets : null,
    legend(limits, field), el("p", { class: "attribution" }, data.attribution));
  // Each shape's extent is known once drawn: fit the viewBoxes to it.
  requestAnimationFrame(() => {
    if (only && main.getBBox) fit(main);
    for (const svg of insets.querySelectorAll("svg")) fit(svg);
  });
  return wrapper;
}

function fit(svg) {
  const box = svg.getBBox();
  if (!box.width || !box.height) return;
  const pad = Math.max(box.width, box.height) * 0.04;
  svg.setAttribute("viewBox", `${box.x - pad} ${box.y - pad} ${box.width + 2 * pad} ${box.height + 2 * pad}`);
}

function legend(limits, field) {
  const items = [el("li", {}, el("span", { class: "swatch shade-none", "aria-hidden": "true" }), "aucun")];
  const bounds = [0, ...limits];
  bounds.forEach((low, index) => {
    const high = limits[index];
    const text = high === undefined ? `${figure(field, String(low))} et plus` : `${index === 0 ? "moins de" : `${figure(field, String(low))} à`} ${figure(field, String(high))}`;
    items.push(el("li", {}, el("span", { class: `swatch shade-${index}`, "aria-hidden": "true" }), text));
  });
  return el("ul", { class: "legend", "aria-label": "Légende" }, items);
}
