// A list of projects as the projects and territory pages show it, and the status names.
import { el, table } from "../dom.js";
import { date, money } from "../format.js";
import { href } from "../route.js";

export const STATUS = { active: "En cours", completed: "Achevé", abandoned: "Abandonné", voided: "Annulé (erreur)" };

export function projectsTable(name, caption, items) {
  const columns = [
    { header: "Projet", key: "name", show: (row) => el("a", { href: href("project", row.project_id) }, row.name) },
    { header: "Statut", key: "status", show: (row) => STATUS[row.status] ?? row.status },
    { header: "Identifié le", key: "identified_on", show: (row) => date(row.identified_on) },
    { header: "Engagé net", key: "net_committed", numeric: true, show: (row) => money(row.net_committed) },
    { header: "Décaissé", key: "disbursed", numeric: true, show: (row) => money(row.disbursed) },
    { header: "Encours", key: "outstanding", numeric: true, show: (row) => money(row.outstanding) },
  ];
  return table(name, caption, columns, items, { barKey: "net_committed" });
}
