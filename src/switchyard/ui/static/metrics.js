// Reading the gateway's Prometheus text (/metrics): histograms, percentiles, counters.

export function histograms(text, name) {
  // {alias: [[le, cumulative count], ...]} from the Prometheus text of /metrics, summed over other labels.
  const out = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const alias = /alias="([^"]*)"/.exec(line)?.[1] ?? "";
    const le = /le="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    const buckets = (out[alias] ||= {});
    buckets[le] = (buckets[le] || 0) + value;
  }
  return Object.fromEntries(Object.entries(out).map(([alias, buckets]) => [alias,
    Object.entries(buckets).map(([le, n]) => [le === "+Inf" ? Infinity : Number(le), n]).sort((a, b) => a[0] - b[0])]));
}

export function percentile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return null;
  const found = buckets.find(([, n]) => n >= q * total);
  return found[0] === Infinity ? buckets[buckets.length - 2]?.[0] ?? null : found[0];
}

export function counterSum(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
