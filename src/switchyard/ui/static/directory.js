// The directory's pages — keys, teams, tenants, users: a page of the list, and the controls
// (create, rotate, revoke, delete, budget) the signed-in role may use.
import { api, go, h, session } from "./app.js";
import { PAGE_SIZE, budgetText, form, pager, table, when, withBudget } from "./widgets.js";

function directoryPage(kind, plural, columns, createFields) {
  return async (body, params) => {
    const query = new URLSearchParams({ limit: PAGE_SIZE });
    if (params.get("after")) query.set("after", params.get("after"));
    const data = await api(`/admin/${plural}?${query}`);
    const shown = h("div", { id: "shown" });
    if (session.manages(kind) && createFields) {
      body.append(h("h2", {}, `New ${kind}`), form(createFields, async (values) => {
        const made = await api(`/admin/${plural}`, { method: "POST", body: withBudget(values) });
        if (made.key) {
          shown.replaceChildren(h("p.notice", {}, `Key ${made.name} created. Copy its secret now: it is not shown again.`),
                                h("p.secret", { id: "secret" }, made.key));
        } else go(plural);
        await refresh();
      }, "Create", `create-${kind}`), shown);
    }
    const holder = h("div");
    body.append(holder, pager(plural, params, data));
    const actions = session.manages(kind) ? [{ title: "", cell: (row) => rowActions(kind, plural, row, shown, refresh) }] : [];
    holder.append(table([...columns, ...actions], data.data, `${plural}-table`));
    async function refresh() {
      const fresh = await api(`/admin/${plural}?${query}`);
      holder.replaceChildren(table([...columns, ...actions], fresh.data, `${plural}-table`));
    }
  };
}

function rowActions(kind, plural, row, shown, refresh) {
  if (kind === "key") {
    if (row.status === "revoked") return h("span.muted", {}, "revoked");
    return h("span", {},
      h("button.quiet", { class: "quiet rotate", onclick: async () => {
        const rotated = await api(`/admin/keys/${row.id}/rotate`, { method: "POST", body: {} });
        shown.replaceChildren(h("p.notice", {}, `Key ${row.name} rotated; the old secret stays valid for the grace period.`),
                              h("p.secret", { id: "secret" }, rotated.key));
        await refresh();
      } }, "Rotate"), " ",
      h("button.danger", { class: "danger revoke", onclick: async () => {
        if (!confirm(`Revoke key ${row.name}? Every request with it is refused from now on.`)) return;
        await api(`/admin/keys/${row.id}/revoke`, { method: "POST", body: {} });
        await refresh();
      } }, "Revoke"), " ",
      budgetEditor(plural, row, refresh));
  }
  return h("span", {}, budgetEditor(plural, row, refresh), " ",
    h("button.danger", { class: "danger delete", onclick: async () => {
      if (!confirm(`Delete ${kind} ${row.name || row.email}?`)) return;
      await api(`/admin/${plural}/${row.id}`, { method: "DELETE" });
      await refresh();
    } }, "Delete"));
}

function budgetEditor(plural, row, refresh) {
  return h("button.quiet", { class: "quiet budget", onclick: async () => {
    const text = prompt("Budget in US dollars per month (empty: no budget)", row.budget ? row.budget.amount : "");
    if (text === null) return;
    await api(`/admin/${plural}/${row.id}`, { method: "PATCH",
                                              body: { budget: text.trim() ? { amount: Number(text) } : null } });
    await refresh();
  } }, "Budget");
}

export const keys = directoryPage("key", "keys", [
  { title: "name", cell: (k) => k.name }, { title: "secret", cell: (k) => `${k.prefix}…` },
  { title: "status", cell: (k) => h("span", { class: k.status === "active" ? "ok" : "bad" }, k.status) },
  { title: "team", cell: (k) => k.team_id || "" }, { title: "models", cell: (k) => (k.models || ["all"]).join(", ") },
  { title: "rpm", num: true, cell: (k) => k.rpm ?? "" }, { title: "budget", cell: (k) => budgetText(k.budget) },
  { title: "created", cell: (k) => when(k.created_at) },
], [{ name: "name", label: "name", required: true }, { name: "tenant", label: "tenant" }, { name: "team", label: "team" },
    { name: "user", label: "user (id or email)" }, { name: "models", label: "models (a,b)", list: true }, { name: "rpm", label: "rpm", number: true },
    { name: "budget", label: "budget $/month", number: true }]);

export const teams = directoryPage("team", "teams", [
  { title: "name", cell: (t) => t.name }, { title: "tenant", cell: (t) => t.tenant_id },
  { title: "models", cell: (t) => (t.models || ["all"]).join(", ") }, { title: "rpm", num: true, cell: (t) => t.rpm ?? "" },
  { title: "budget", cell: (t) => budgetText(t.budget) },
], [{ name: "name", label: "name", required: true }, { name: "tenant", label: "tenant", required: true },
    { name: "rpm", label: "rpm", number: true }, { name: "budget", label: "budget $/month", number: true }]);

export const tenants = directoryPage("tenant", "tenants", [
  { title: "name", cell: (t) => t.name }, { title: "tier", cell: (t) => t.tier || "" },
  { title: "rpm", num: true, cell: (t) => t.rpm ?? "" }, { title: "budget", cell: (t) => budgetText(t.budget) },
], [{ name: "name", label: "name", required: true }, { name: "rpm", label: "rpm", number: true },
    { name: "budget", label: "budget $/month", number: true }]);

export const users = directoryPage("user", "users", [
  { title: "email", cell: (u) => u.email }, { title: "role", cell: (u) => u.role }, { title: "team", cell: (u) => u.team_id || "" },
  { title: "tenant", cell: (u) => u.tenant_id }, { title: "budget", cell: (u) => budgetText(u.budget) },
], [{ name: "email", label: "email", required: true }, { name: "team", label: "team" }, { name: "tenant", label: "tenant" },
    { name: "role", label: "role", options: ["member", "team_admin", "viewer", "admin"] },
    { name: "budget", label: "budget $/month", number: true }]);
