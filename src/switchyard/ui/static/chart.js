// Charts as inline SVG: bars over time and bars by name. No library: a few dozen lines we own.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

// points: [{label, value}]; options: {format(value) -> text, kind: "" | "bad" | "cost", title}
export function bars(points, { format = String, kind = "", title = "" } = {}) {
  const width = 600, height = 160, left = 48, bottom = 22, top = 10;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  const most = Math.max(0, ...points.map((p) => p.value));
  const scale = most > 0 ? (height - bottom - top) / most : 0;
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - fraction * (height - bottom - top);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y }));
    chart.append(svg("text", { x: left - 4, y: y + 3, "text-anchor": "end" }, format(most * fraction)));
  }
  if (!points.length) {
    chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data in this range"));
    return chart;
  }
  const step = (width - left) / points.length;
  const every = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((point, i) => {
    const barHeight = point.value * scale;
    const rect = svg("rect", { class: `bar ${kind}`.trim(), x: left + i * step + 1, y: height - bottom - barHeight,
                               width: Math.max(1, step - 2), height: barHeight });
    rect.append(svg("title", {}, `${point.label}: ${format(point.value)}`));
    chart.append(rect);
    if (i % every === 0) {
      chart.append(svg("text", { x: left + i * step + step / 2, y: height - 6, "text-anchor": "middle" }, point.label));
    }
  });
  return chart;
}
