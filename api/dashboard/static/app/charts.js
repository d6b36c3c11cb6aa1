// Hand-drawn SVG charts; each comes with its table (the accessible alternative) and a CSV.
import { csvButton, el, table } from "./dom.js";
import { FIGURES, figure, magnitude, money } from "./format.js";

let serial = 0;

// The chart, its data as a table to unfold, and the same data as CSV.
function frame(name, title, svg, columns, rows) {
  const id = `chart-${++serial}`;
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", id);
  return el("figure", { class: "chart" },
    el("figcaption", { id }, title), svg,
    el("details", {}, el("summary", {}, "Voir le tableau des données"), table(name, title, columns, rows, { csv: false })),
    csvButton(name, columns, rows));
}

// rows: [{label, value (decimal string or count)}]; name: the CSV file name.
export function barChart(name, title, rows, field, { dimension = "Catégorie", onSelect = null } = {}) {
  const sorted = [...rows].sort((a, b) => magnitude(b.value) - magnitude(a.value));
  const max = Math.max(0, ...sorted.map((row) => magnitude(row.value)));
  const rowHeight = 26;
  const labelWidth = 230;
  const width = 640;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${Math.max(1, sorted.length) * rowHeight + 4}`, class: "bars" });
  sorted.forEach((row, index) => {
    const y = index * rowHeight + 2;
    const length = max > 0 ? ((width - labelWidth - 150) * Math.max(0, magnitude(row.value))) / max : 0;
    const group = el("svg:g", {});
    group.append(
      el("svg:text", { x: labelWidth - 8, y: y + 17, "text-anchor": "end", class: "label" }, truncate(row.label, 32)),
      el("svg:rect", { x: labelWidth, y: y + 4, width: Math.max(length, 0.5), height: rowHeight - 8, class: "bar-fill" }),
      el("svg:text", { x: labelWidth + length + 6, y: y + 17, class: "value" }, figure(field, row.value)),
    );
    group.append(el("svg:title", {}, `${row.label} : ${figure(field, row.value)}`));
    svg.append(group);
  });
  const columns = [
    { header: dimension, key: "label" },
    { header: FIGURES[field], key: "value", numeric: true, show: (row) => figure(field, row.value) },
  ];
  if (onSelect) columns[0].show = (row) => row.code ? el("a", { href: onSelect(row) }, row.label) : row.label;
  return frame(name, title, svg, columns, sorted);
}

function truncate(text, size) {
  return text.length > size ? `${text.slice(0, size - 1)}…` : text;
}

// rows: totals grouped by year; two bars per year.
export function yearChart(name, title, rows) {
  const series = [["committed", "Engagé brut", "series-a"], ["disbursed", "Décaissé", "series-b"]];
  const sorted = [...rows].filter((row) => row.year !== null).sort((a, b) => a.year - b.year);
  const max = Math.max(0, ...sorted.flatMap((row) => series.map(([key]) => magnitude(row[key]))));
  const width = 640;
  const height = 260;
  const left = 70;
  const bottom = 30;
  const slot = sorted.length ? (width - left - 10) / sorted.length : 0;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height + 24}`, class: "years" });
  const scale = (value) => (max > 0 ? ((height - bottom - 10) * magnitude(value)) / max : 0);
  for (let i = 0; i <= 4; i++) {
    const y = height - bottom - ((height - bottom - 10) * i) / 4;
    svg.append(el("svg:line", { x1: left, x2: width - 10, y1: y, y2: y, class: "grid" }));
    svg.append(el("svg:text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, short((max * i) / 4)));
  }
  sorted.forEach((row, index) => {
    const x = left + index * slot;
    series.forEach(([key, label, css], s) => {
      const h = scale(row[key]);
      const rect = el("svg:rect", { x: x + slot * (0.12 + 0.38 * s), y: height - bottom - h, width: slot * 0.36, height: Math.max(h, 0.5), class: css });
      rect.append(el("svg:title", {}, `${row.year}, ${label} : ${money(row[key])}`));
      svg.append(rect);
    });
    svg.append(el("svg:text", { x: x + slot / 2, y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, row.year));
  });
  series.forEach(([, label, css], s) => {
    svg.append(el("svg:rect", { x: left + s * 150, y: height + 6, width: 12, height: 12, class: css }));
    svg.append(el("svg:text", { x: left + s * 150 + 18, y: height + 16, class: "axis" }, label));
  });
  const columns = [
    { header: "Année", key: "year" },
    ...series.map(([key, label]) => ({ header: label, key, numeric: true, show: (row) => money(row[key]) })),
  ];
  return frame(name, title, svg, columns, sorted);
}

const compact = new Intl.NumberFormat("fr-FR", { notation: "compact", maximumFractionDigits: 1 });
function short(value) {
  return `${compact.format(value)} €`;
}
