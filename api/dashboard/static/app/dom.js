// Building the page: elements, tables with bars, CSV downloads, messages.
import { magnitude } from "./format.js";

export function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function csvText(columns, rows) {
  const cell = (value) => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n;]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [columns.map((c) => cell(c.header)), ...rows.map((row) => columns.map((c) => cell(c.raw ? c.raw(row) : row[c.key])))];
  return "\ufeff" + lines.map((line) => line.join(",")).join("\r\n") + "\r\n";
}

export function csvButton(name, columns, rows) {
  return el("button", {
    type: "button",
    class: "csv",
    onclick: () => {
      const blob = new Blob([csvText(columns, rows)], { type: "text/csv;charset=utf-8" });
      const link = el("a", { href: URL.createObjectURL(blob), download: `${name}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    },
  }, "Télécharger (CSV)", el("span", { class: "visually-hidden" }, ` : ${name}`));
}

// columns: [{header, key?, raw?(row) for the CSV, show?(row) for the page, numeric?, bar?}]
export function table(name, caption, columns, rows, { barKey = null, csv = true } = {}) {
  const max = barKey ? Math.max(0, ...rows.map((row) => magnitude(row[barKey]))) : 0;
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.numeric ? "num" : null }, c.header)));
  const body = rows.map((row) => el("tr", {}, columns.map((c, index) => {
    const shown = c.show ? c.show(row) : row[c.key];
    const cell = el(index === 0 ? "th" : "td", { scope: index === 0 ? "row" : null, class: c.numeric ? "num" : null }, shown);
    if (barKey && c.key === barKey && max > 0) {
      const bar = el("span", { class: "bar", "aria-hidden": "true" });
      bar.style.width = `${(100 * Math.max(0, magnitude(row[barKey]))) / max}%`;
      cell.prepend(bar);
      cell.classList.add("with-bar");
    }
    return cell;
  })));
  const tableNode = el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, body));
  return el("div", { class: "table-block" }, el("div", { class: "scroll" }, tableNode), csv ? csvButton(name, columns, rows) : null);
}

export function message(text, kind = "info") {
  return el("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function replace(node, ...children) {
  node.replaceChildren(...children.flat().filter(Boolean));
}
