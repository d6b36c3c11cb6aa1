// The public /v1 API, and the token typed on the page (session storage only).
const KEY = "funding.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

const listeners = new Set();
export function onUnauthorized(listener) {
  listeners.add(listener);
}

export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export async function get(path, params = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch(url(path, params), { headers });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
    } catch {
      // not a problem document: keep the status text
    }
    const error = new ApiError(response.status, detail);
    error.bearer = bearer;
    if (response.status === 401) listeners.forEach((listener) => listener(error));
    throw error;
  }
  return response.json();
}

let reference = null;
export function loadReference() {
  reference ??= get("/v1/reference").catch((error) => {
    reference = null;
    throw error;
  });
  return reference;
}

const territories = new Map();
export function territory(code) {
  if (!territories.has(code)) {
    territories.set(code, get(`/v1/territories/${encodeURIComponent(code)}`).catch((error) => {
      territories.delete(code);
      throw error;
    }));
  }
  return territories.get(code);
}

export function totals(groupBy, filters) {
  return get("/v1/totals", { ...filters, group_by: groupBy });
}
