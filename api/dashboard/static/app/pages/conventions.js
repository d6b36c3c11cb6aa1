// Conventions: each envelope beside what its projects commit.
import { get, loadReference } from "../api.js";
import { el, table } from "../dom.js";
import { count, date, money } from "../format.js";

export async function render(view, { params }) {
  const [answer, reference] = await Promise.all([get("/v1/conventions"), loadReference()]);
  const label = (code) => reference.directorates.find((d) => d.code === code)?.label ?? code;
  const rows = answer.items.map((c) => ({ ...c, directorate_label: label(c.directorate) }));
  const columns = [
    { header: "Convention", key: "title", show: (row) => el("span", { id: `convention-${row.convention_id}`, class: row.convention_id === params.focus ? "focus" : null }, row.title) },
    { header: "Direction", key: "directorate_label" },
    { header: "Signée le", key: "signed_on", show: (row) => date(row.signed_on) },
    { header: "Fin", key: "ends_on", show: (row) => date(row.ends_on) },
    { header: "Enveloppe", key: "envelope", numeric: true, show: (row) => money(row.envelope) },
    { header: "Engagé net", key: "net_committed", numeric: true, show: (row) => money(row.net_committed) },
    { header: "Reste", key: "remaining", numeric: true, show: (row) => money(row.remaining) },
    { header: "Dépassement", key: "over_envelope", show: (row) => row.over_envelope ? el("strong", { class: "over" }, "Enveloppe dépassée") : "non" },
    { header: "Projets", key: "projects", numeric: true, show: (row) => count(row.projects) },
  ];
  view.replaceChildren(
    el("h1", {}, "Conventions"),
    el("p", {}, "Enveloppe de chaque convention de partenariat, ce que ses projets engagent (net des annulations) et ce qui reste."),
    table("conventions", "Conventions de partenariat", columns, rows, { barKey: "net_committed" }),
  );
}
