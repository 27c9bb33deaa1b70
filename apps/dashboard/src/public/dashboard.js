// Plain SVG charts: no network access is needed beyond this dashboard's own API.
(function () {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg';
  const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#718096'];

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function fmt(v) {
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString();
    if (Math.abs(v) >= 1) return v.toFixed(1);
    return v.toFixed(3);
  }

  // series: [{ name, points: [[x, y], ...], mode: 'line' | 'dots' }]
  function chart(id, series, opts) {
    const svg = document.getElementById(id);
    const w = svg.clientWidth || 460;
    const h = svg.clientHeight || 240;
    const pad = { l: 48, r: 12, t: 10, b: 26 };
    svg.replaceChildren();
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const all = series.flatMap((s) => s.points);
    svg.setAttribute('data-points', String(all.length));
    svg.setAttribute('data-series', String(series.filter((s) => s.points.length).length));
    if (!all.length) {
      el('text', { x: w / 2, y: h / 2, 'text-anchor': 'middle', class: 'empty' }, svg).textContent =
        'no data yet';
      return;
    }
    let [x0, x1] = opts.xDomain || [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let [y0, y1] = opts.yDomain || [0, Math.max(...all.map((p) => p[1]))];
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) y1 = y0 + 1;
    const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const sy = (y) => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
    for (let i = 0; i <= 4; i++) {
      const y = y0 + ((y1 - y0) * i) / 4;
      el('line', { x1: pad.l, x2: w - pad.r, y1: sy(y), y2: sy(y), class: 'grid' }, svg);
      el('text', { x: pad.l - 4, y: sy(y) + 3, 'text-anchor': 'end', class: 'label' }, svg).textContent =
        fmt(y);
    }
    for (let i = 0; i <= 3; i++) {
      const x = x0 + ((x1 - x0) * i) / 3;
      el('text', { x: sx(x), y: h - 8, 'text-anchor': 'middle', class: 'label' }, svg).textContent =
        opts.xLabel ? opts.xLabel(x) : fmt(x);
    }
    el('line', { x1: pad.l, x2: pad.l, y1: pad.t, y2: h - pad.b, class: 'axis' }, svg);
    el('line', { x1: pad.l, x2: w - pad.r, y1: h - pad.b, y2: h - pad.b, class: 'axis' }, svg);
    if (opts.diagonal) {
      const d = Math.min(x1, y1);
      el(
        'line',
        { x1: sx(0), y1: sy(0), x2: sx(d), y2: sy(d), stroke: '#aaa', 'stroke-dasharray': '4 3' },
        svg,
      );
    }
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      if (s.mode !== 'dots') {
        const d = s.points
          .map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
          .join('');
        el('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.8, class: 'series' }, svg);
      }
      if (s.mode !== 'line') {
        for (const p of s.points)
          el('circle', { cx: sx(p[0]), cy: sy(p[1]), r: 3.5, fill: color, class: 'point' }, svg);
      }
    });
  }

  const time = (t) => new Date(t).toISOString().slice(5, 16).replace('T', ' ');
  const clock = (t) => new Date(t).toISOString().slice(11, 19);

  function show(id, sectionData, render) {
    const err = document.getElementById('err-' + id);
    err.textContent = sectionData.ok ? '' : 'unavailable: ' + sectionData.error;
    render(sectionData.ok ? sectionData.data : []);
  }

  // The API key (when the dashboard has one) arrives once as ?key=..., is kept for this tab only and
  // taken out of the address bar, and goes with every data request as x-api-key.
  const KEY_ITEM = 'mmctr-dashboard-key';
  const params = new URLSearchParams(location.search);
  if (params.has('key')) {
    sessionStorage.setItem(KEY_ITEM, params.get('key'));
    params.delete('key');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY_ITEM);
    const res = await fetch('api/dashboard', { headers: key ? { 'x-api-key': key } : {} });
    if (res.status === 401) throw new Error('unauthorized: open the dashboard once with ?key=<API key>');
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const d = await res.json();
    show('ctr', d.ctr, (rows) =>
      chart('chart-ctr', [{ name: 'ctr', points: rows.map((r) => [r.t, r.ctr]) }], { xLabel: time }),
    );
    show('calibration', d.calibration, (rows) => {
      const versions = [...new Set(rows.map((r) => r.model_version))];
      // Same scale on both axes, so the dashed diagonal is perfect calibration.
      const top = Math.max(0.01, ...rows.flatMap((r) => [r.predicted, r.observed]));
      chart(
        'chart-calibration',
        versions.map((v) => ({
          name: v,
          mode: 'both',
          points: rows.filter((r) => r.model_version === v).map((r) => [r.predicted, r.observed]),
        })),
        { diagonal: true, xDomain: [0, top], yDomain: [0, top] },
      );
      // Model versions are data: text nodes only, never markup.
      const legend = document.getElementById('legend-calibration');
      legend.replaceChildren(
        ...versions.map((v, i) => {
          const item = document.createElement('span');
          const swatch = document.createElement('i');
          swatch.style.background = COLORS[i % COLORS.length];
          item.append(swatch, document.createTextNode(String(v)));
          return item;
        }),
      );
    });
    show('lag', d.ingest_lag, (rows) =>
      chart('chart-lag', [{ name: 'lag', points: rows.map((r) => [r.t, r.value]) }], { xLabel: clock }),
    );
    show('queue', d.queue_depth, (rows) =>
      chart(
        'chart-queue',
        [{ name: 'depth', points: rows.map((r) => [r.t, r.value.waiting + r.value.active]) }],
        {
          xLabel: clock,
        },
      ),
    );
    show('ingest', d.ingest, (rows) =>
      chart('chart-ingest', [{ name: 'rows', points: rows.map((r) => [r.t, r.rows]) }], { xLabel: time }),
    );
    show('models', d.models, (rows) => {
      const tbody = document.querySelector('#models tbody');
      tbody.replaceChildren();
      for (const m of rows) {
        let auc = '';
        try {
          const metrics = JSON.parse(m.metrics || '{}');
          const v = metrics.test_auc ?? metrics.auc ?? metrics.test?.auc;
          auc = typeof v === 'number' ? v.toFixed(4) : '';
        } catch {
          auc = '';
        }
        const tr = document.createElement('tr');
        tr.className = m.status;
        for (const v of [m.version, m.model_type, m.status, auc, m.created_at]) {
          const td = document.createElement('td');
          td.textContent = v;
          tr.appendChild(td);
        }
        tbody.appendChild(tr);
      }
    });
    document.getElementById('updated').textContent =
      'updated ' + new Date(d.generated_at).toLocaleTimeString();
    document.body.setAttribute('data-loaded', 'true');
  }

  refresh().catch((e) => (document.getElementById('updated').textContent = 'error: ' + e.message));
  setInterval(() => refresh().catch(() => undefined), 5000);
})();
