// One project: its figures, commitments, conventions, indicators and the events behind them.
import { ApiError, get, loadReference, territory } from "../api.js";
import { el, message, table } from "../dom.js";
import { date, FIGURES, figure, magnitude, money, number, timestamp } from "../format.js";
import { href } from "../route.js";
import { breadcrumbs } from "./territory.js";
import { STATUS } from "./project_list.js";

const EVENTS = {
  ProjectIdentified: "Projet identifié",
  ProjectDetailsCorrected: "Détails corrigés",
  LoanGranted: "Prêt accordé",
  EquityInvested: "Investissement en fonds propres",
  StudyLaunched: "Étude lancée",
  StudyDelivered: "Étude livrée",
  FundsDisbursed: "Décaissement",
  LoanRepaid: "Remboursement",
  CommitmentCancelled: "Engagement annulé",
  CommitmentAmountCorrected: "Montant corrigé",
  CommitmentVoided: "Engagement invalidé",
  CommitmentDateCorrected: "Date corrigée",
  DisbursementReversed: "Décaissement contre-passé",
  RepaymentReversed: "Remboursement contre-passé",
  ProjectLinkedToConvention: "Rattaché à une convention",
  ImpactIndicatorSet: "Indicateur fixé",
  ImpactMeasured: "Mesure d'impact",
  ProjectCompleted: "Projet achevé",
  ProjectAbandoned: "Projet abandonné",
  ProjectVoided: "Projet invalidé",
};
const MONEY_KEYS = ["amount", "principal", "estimated_cost"];
const DATE_KEYS = ["granted_on", "invested_on", "launched_on", "delivered_on", "disbursed_on", "repaid_on", "cancelled_on", "identified_on", "measured_on", "due_on", "on"];

function summary(data) {
  const parts = [];
  for (const key of MONEY_KEYS) if (data[key]) parts.push(money(data[key]));
  for (const key of DATE_KEYS) if (data[key]) parts.push(`le ${date(data[key])}`);
  if (data.duration_months) parts.push(`${data.duration_months} mois`);
  if (data.rate) parts.push(`taux ${number(data.rate)} %`);
  if (data.product) parts.push(data.product);
  if (data.indicator) parts.push(`${data.indicator}${data.value ? ` = ${number(data.value)}` : ""}${data.target ? `, cible ${number(data.target)} ${data.unit ?? ""}` : ""}`);
  if (data.reason) parts.push(`motif : ${data.reason}`);
  return parts.join(" · ");
}

async function history(id) {
  try {
    const answer = await get(`/v1/projects/${id}/events`);
    return el("ol", { class: "timeline" }, answer.events.map((event) => el("li", {},
      el("p", { class: "event-type" }, EVENTS[event.type] ?? event.type),
      el("p", {}, summary(event.data)),
      el("p", { class: "event-meta" }, `Enregistré le ${timestamp(event.recorded_at)} par ${event.actor ?? "—"} · version ${event.version} · position ${event.position}`))));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 401)) {
      return message("L'historique des événements est réservé aux rôles administrateur, auditeur et direction régionale : saisissez un tel jeton en haut de la page.");
    }
    throw error;
  }
}

export async function render(view, { arg: id }) {
  const [project, reference] = await Promise.all([get(`/v1/projects/${id}`), loadReference()]);
  const label = (list, code) => reference[list].find((item) => item.code === code)?.label ?? code ?? "—";
  const place = await territory(project.territory);
  const [crumbs, conventions, events] = await Promise.all([
    breadcrumbs(place, {}, true),
    Promise.all(project.conventions.map((cid) => get(`/v1/conventions/${cid}`))),
    history(id),
  ]);
  const facts = [
    ["Territoire", el("a", { href: href("territory", place.code) }, `${place.name} (${place.code})`)],
    ["Thème", label("themes", project.theme)],
    ["Programme", project.programme ? label("programmes", project.programme) : "—"],
    ["Direction", label("directorates", project.directorate)],
    ["Statut", `${STATUS[project.status] ?? project.status}${project.closed_on ? ` le ${date(project.closed_on)}` : ""}`],
    ["Identifié le", date(project.identified_on)],
    ["Référence", project.reference ?? "—"],
    ["Coût estimé", money(project.estimated_cost)],
  ];
  const figures = ["committed", "cancelled", "net_committed", "disbursed", "to_disburse", "repaid", "outstanding"];
  const commitments = table(`engagements-${id}`, "Engagements", [
    { header: "Instrument", key: "instrument", show: (row) => label("instruments", row.instrument) },
    { header: "Montant", key: "amount", numeric: true, show: (row) => money(row.amount) },
    { header: "Date", key: "committed_on", show: (row) => date(row.committed_on) },
    ...figures.slice(1).map((name) => ({ header: FIGURES[name], key: name, numeric: true, show: (row) => money(row[name]) })),
    { header: "Détails", key: "details", raw: (row) => JSON.stringify(row.details ?? {}), show: (row) => summary(row.details ?? {}) },
  ], project.commitments, { barKey: "amount" });
  const indicators = project.indicators.map((indicator) => {
    const last = indicator.measurements.at(-1);
    const share = last && magnitude(indicator.target) > 0 ? Math.min(100, (100 * magnitude(last[1])) / magnitude(indicator.target)) : 0;
    const bar = el("span", { class: "progress-fill" });
    bar.style.width = `${share}%`;
    return el("div", { class: "indicator" },
      el("h3", {}, `${indicator.indicator} (${indicator.unit})`),
      el("p", {}, `Cible ${number(indicator.target)} ${indicator.unit} au ${date(indicator.due_on)} · mesuré ${last ? `${number(last[1])} le ${date(last[0])}` : "pas encore"}`),
      el("div", { class: "progress", role: "img", "aria-label": `${Math.round(share)} % de la cible atteinte` }, bar),
      table(`indicateur-${indicator.indicator}`, `Mesures : ${indicator.indicator}`, [
        { header: "Date", key: "0", show: (row) => date(row[0]) },
        { header: `Mesure (${indicator.unit})`, key: "1", numeric: true, show: (row) => number(row[1]) },
      ], indicator.measurements));
  });
  view.replaceChildren(
    crumbs,
    el("h1", {}, project.name),
    el("dl", { class: "facts" }, facts.map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value)))),
    el("h2", {}, "Chiffres"),
    el("dl", { class: "cards" }, figures.map((name) => el("div", { class: "card" }, el("dt", {}, FIGURES[name]), el("dd", { dataset: { field: name } }, figure(name, project.figures[name]))))),
    el("h2", {}, "Engagements"), commitments,
    el("h2", {}, "Conventions"),
    conventions.length ? el("ul", {}, conventions.map((c) => el("li", {}, el("a", { href: href("conventions", null, { focus: c.convention_id }) }, c.title), ` — enveloppe ${money(c.envelope)}, signée le ${date(c.signed_on)}`))) : el("p", {}, "Aucune convention."),
    el("h2", {}, "Indicateurs d'impact"),
    indicators.length ? indicators : el("p", {}, "Aucun indicateur."),
    el("h2", {}, "Historique"), events,
  );
}
