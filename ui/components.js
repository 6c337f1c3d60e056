// Shared pieces of the console's pages: the html tag, data loading with its states, the chart
// wrapper around ECharts, and the explanations shown for loading, empty and failed views.
import * as echarts from 'echarts';
import htm from 'htm';
import { createContext, h } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

export const html = htm.bind(h);

/** Live updates: a counter per event type that pages depend on to load again. */
export const LiveContext = createContext({ ticks: {}, who: null });

export function useLiveTick(...types) {
  const { ticks } = useContext(LiveContext);
  return types.map((t) => ticks[t] ?? 0).join('.');
}

export function useWho() {
  return useContext(LiveContext).who;
}

/** Loads `path` (null: nothing to load) again when `deps` change or every `everyMs`. */
export function useApi(path, deps = [], everyMs = 0) {
  const [state, setState] = useState({ data: null, error: null, loading: path !== null });
  const [n, setN] = useState(0);
  const reload = useCallback(() => setN((x) => x + 1), []);
  useEffect(() => {
    if (path === null) return setState({ data: null, error: null, loading: false });
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    api(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [path, n, ...deps]);
  useEffect(() => {
    if (!everyMs) return;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [everyMs, reload]);
  return { ...state, reload };
}

const WHY = {
  0: 'The console cannot reach its server.',
  400: 'The request was refused.',
  401: 'The token is not accepted: sign in again.',
  403: 'Your role does not allow this.',
  404: 'Not found.',
  409: 'This no longer fits the current state.',
  503: 'A server behind the console (PostgreSQL, ClickHouse, Neo4j or Kafka) does not answer; retrying helps once it is back.',
};

export function ErrorNote({ error }) {
  if (!error) return null;
  const param = error.body?.parameter ? ` (parameter ${error.body.parameter})` : '';
  return html`<div class="note error" role="alert">
    <strong>${WHY[error.status] ?? `Error ${error.status}.`}</strong> ${error.message}${param}
  </div>`;
}

/** Loading, error and empty states in one place; renders `children` only when there is data. */
export function Loaded({ state, empty, isEmpty, children }) {
  if (state.error && !state.data) return html`<${ErrorNote} error=${state.error} />`;
  if (!state.data) return html`<p class="note" aria-live="polite">Loading…</p>`;
  return html`${state.error ? html`<${ErrorNote} error=${state.error} />` : null}
    ${isEmpty?.(state.data) ? html`<div class="note empty">${empty}</div>` : children}`;
}

/** An ECharts chart with an accessible label; resizes with its box, disposed on unmount. */
export function Chart({ option, label, height = 360, onClick }) {
  const el = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    chart.current = echarts.init(el.current, null, { renderer: 'canvas' });
    const ro = new ResizeObserver(() => chart.current?.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      chart.current.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current.setOption({ aria: { enabled: true, label: { description: label } }, ...option }, true);
    chart.current.off('click');
    if (onClick) chart.current.on('click', onClick);
  }, [option, label, onClick]);
  return html`<div class="chart" ref=${el} role="img" aria-label=${label} style=${{ height: `${height}px` }}></div>`;
}

export const fmtTime = (ms) => (ms ? new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '–');
export const fmtDateTime = (v) => (v ? new Date(v).toLocaleString() : '–');
export const fmtNum = (v, digits = 1) =>
  v === null || v === undefined || Number.isNaN(Number(v)) ? '–' : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });

/** A table picker: the tables seen in the analytics (hot ranges), or any name typed. */
export function TablePicker({ value, onChange }) {
  const hot = useApi('/api/analytics/hot-ranges?limit=200');
  const tables = [...new Set((hot.data?.rows ?? []).map((r) => r.table_name).filter(Boolean))].sort();
  const [text, setText] = useState(value ?? '');
  useEffect(() => setText(value ?? ''), [value]);
  return html`<form class="picker" onSubmit=${(e) => {
    e.preventDefault();
    onChange(text.trim());
  }}>
    <label for="table-input">Table</label>
    <input id="table-input" list="table-names" value=${text} onInput=${(e) => setText(e.currentTarget.value)}
      placeholder="table name" autocomplete="off" pattern="[A-Za-z0-9_.\\-]{1,128}" required />
    <datalist id="table-names">${tables.map((t) => html`<option value=${t} />`)}</datalist>
    <button type="submit">Show</button>
  </form>`;
}

/** The hash route's query parameters (#/page?table=x), and a setter that keeps them in the URL. */
export function useHashParam(name) {
  const read = () => new URLSearchParams(location.hash.split('?')[1] ?? '').get(name) ?? '';
  const [v, setV] = useState(read);
  useEffect(() => {
    const on = () => setV(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const set = (x) => {
    const [page, q] = location.hash.split('?');
    const p = new URLSearchParams(q ?? '');
    p.set(name, x);
    location.hash = `${page}?${p}`;
  };
  return [v, set];
}
