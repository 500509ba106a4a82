// What every page is built of: tables, the pager, forms, and how figures are written.
import { go, h } from "./app.js";

export const PAGE_SIZE = 25;
export const usd = (value) => `$${Number(value || 0).toFixed(value && value < 0.01 ? 6 : 2)}`;
export const count = (value) => Number(value || 0).toLocaleString("en");
export const when = (seconds) => (seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
export const ms = (seconds) => (seconds == null ? "–" : `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`);

export function table(columns, rows, id) {
  return h("table", { id },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)))),
    h("tbody", {}, rows.length ? rows.map((row) => h("tr", { dataset: row.id ? { id: row.id } : undefined },
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "Nothing here yet."))));
}

// A page of a list: "Next" follows the API's cursor; "First" goes back to the start.
export function pager(path, params, data) {
  const first = !params.get("after");
  return h("div.pager", {},
    h("button.quiet", { disabled: first, onclick: () => go(path, { ...Object.fromEntries(params), after: "" }) }, "First"),
    h("button.quiet", { id: "next", disabled: !data.has_more,
                        onclick: () => go(path, { ...Object.fromEntries(params), after: data.last_id }) }, "Next"));
}

export function form(fields, submit, label, id) {
  const inputs = {};
  const el = h("form.inline", {
    id,
    onsubmit: async (event) => {
      event.preventDefault();
      const values = {};
      for (const [name, input] of Object.entries(inputs)) {
        const text = input.value.trim();
        if (text === "") continue;
        const field = fields.find((f) => f.name === name);
        values[name] = field.number ? Number(text) : field.list ? text.split(",").map((s) => s.trim()) : text;
      }
      const button = el.querySelector("button");
      button.disabled = true;
      try { await submit(values); } catch (error) { el.after(h("p.error", { role: "alert" }, error.message)); }
      finally { button.disabled = false; }
    },
  }, fields.map((f) => {
    inputs[f.name] = f.options
      ? h("select", { name: f.name }, f.options.map((o) => h("option", { value: o }, o)))
      : h("input", { name: f.name, type: f.number ? "number" : "text", step: f.number ? "any" : null,
                     placeholder: f.placeholder || "", required: f.required });
    return h("label", {}, f.label, inputs[f.name]);
  }), h("button", { type: "submit" }, label));
  return el;
}

export const budgetText = (budget) => (budget ? `${usd(budget.amount)} / ${budget.period || "monthly"}` : "");
export const withBudget = (values) => {
  const { budget, ...rest } = values;
  return budget === undefined ? rest : { ...rest, budget: { amount: budget } };
};
