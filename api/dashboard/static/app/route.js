// The view lives in the URL's hash: "#/page/argument?filter=value". A link reproduces it.
export function current() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const [page = "overview", ...rest] = path.split("/").map(decodeURIComponent);
  return { page: page || "overview", arg: rest.join("/") || null, params: Object.fromEntries(new URLSearchParams(query)) };
}

export function href(page, arg = null, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const path = arg ? `${page}/${encodeURIComponent(arg)}` : page;
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

export function go(page, arg, params) {
  location.hash = href(page, arg, params);
}

// Filters every totals page shares, as the API names them.
export const TOTALS_FILTERS = ["theme", "instrument", "programme", "directorate", "from", "to"];

export function pick(params, names) {
  return Object.fromEntries(names.filter((name) => params[name]).map((name) => [name, params[name]]));
}
