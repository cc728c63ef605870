// The script pages: the list (new script, JSON import) and the step builder. The builder edits
// the script as data — ordered steps with text, typed fields, disclosures and branches — picks
// every reference (branch targets, write-back properties, the next step) from menus, shows a
// live preview for a sample contact, and saves, publishes and attaches through the JSON API.
// The server validates every save (errors name the step and the field) and shows them here.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { el, api, reason } = window.paleraDom;

  // ---- the list page ------------------------------------------------------------------------
  const listBox = $("scripts-new");
  if (listBox) {
    const client = listBox.dataset.clientId;
    const fail = (m) => { const e = $("scripts-error"); e.textContent = m; e.hidden = false; };
    const open = (r) => { window.location.href = "/admin/clients/" + client + "/scripts/" + r.data.id; };
    $("new-script").addEventListener("click", async () => {
      const name = $("new-script-name").value.trim();
      if (!name) { fail("Name: give the script a name."); $("new-script-name").focus(); return; }
      const body = { name, steps: [{ key: "start", title: "Start", text: "Hello {{contact.first_name}}, this is {{agent.name}} from {{client.name}}.", fields: [], disclosures: [], branches: [], next: null }] };
      const r = await api("POST", "/api/v1/clients/" + client + "/scripts", body);
      if (r.ok) open(r); else fail(reason(r.data, "The script was not created."));
    });
    $("new-script-name").addEventListener("keydown", (e) => { if (e.key === "Enter") $("new-script").click(); });
    $("import-script").addEventListener("click", async () => {
      const f = $("import-file").files[0];
      if (!f) { fail("File: choose a JSON file exported from a script."); return; }
      let body;
      try { body = JSON.parse(await f.text()); } catch (_) { fail("File: this is not JSON."); return; }
      const r = await api("POST", "/api/v1/clients/" + client + "/scripts", body);
      if (r.ok) open(r); else fail(reason(r.data, "The script was not imported."));
    });
    return;
  }

  // ---- the builder --------------------------------------------------------------------------
  const root = $("builder");
  if (!root) return;
  const D = JSON.parse(root.dataset.builder);
  const S = D.script; // {name, steps}
  const base = "/api/v1/clients/" + D.client_id + "/scripts/" + D.script_id;
  const KINDS = ["text", "number", "boolean", "date", "email", "phone", "choice"];
  const slug = (t, fallback) => (t || "").toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || fallback;
  const unique = (want, taken) => { let k = want, n = 2; while (taken.includes(k)) k = want + "-" + n++; return k; };
  let dirty = false;
  const touched = () => { dirty = true; $("builder-status").textContent = "Unsaved changes."; preview(); };

  function showVersion() {
    $("builder-version").textContent = "Version " + D.version + (D.draft ? " (draft)" : " (published)") +
      (D.published_version ? " · calls run version " + D.published_version : " · not published yet: calls run nothing");
  }

  function renameStep(step, title) {
    const old = step.key;
    const key = unique(slug(title, "step"), S.steps.filter((s) => s !== step).map((s) => s.key));
    step.key = key;
    S.steps.forEach((s) => {
      if (s.next === old) s.next = key;
      s.branches.forEach((b) => { if (b.to === old) b.to = key; });
    });
  }
  function renameField(step, field, label) {
    const old = field.key;
    const key = unique(slug(label, "field").replace(/-/g, "_"), step.fields.filter((f) => f !== field).map((f) => f.key));
    field.key = key;
    step.branches.forEach((b) => { if (b.field === old) b.field = key; });
  }

  function input(cls, value, label, onInput, onChange) {
    const id = cls + "-" + Math.random().toString(36).slice(2, 8);
    const i = el("input", { className: cls, id, value: value == null ? "" : value, autocomplete: "off" });
    i.addEventListener("input", () => { onInput(i.value); touched(); });
    if (onChange) i.addEventListener("change", () => { onChange(i.value); refreshMenus(); preview(); });
    return el("label", { className: "inline", htmlFor: id }, label + " ", i);
  }
  // A menu; `options` may be a function so the menu can be refreshed in place (step titles
  // and field labels change while the agent edits; references follow without a re-render).
  function select(cls, options, value, label, onChange) {
    const id = cls + "-" + Math.random().toString(36).slice(2, 8);
    const s = el("select", { className: cls, id });
    const opts = typeof options === "function" ? options : () => options;
    const get = typeof value === "function" ? value : () => value;
    s._refresh = () => {
      s.innerHTML = "";
      opts().forEach(([v, t]) => s.append(el("option", { value: v, text: t })));
      const v = get();
      s.value = v == null ? "" : v;
    };
    s._refresh();
    s.addEventListener("change", () => { onChange(s.value); touched(); render(); });
    return el("label", { className: "inline", htmlFor: id }, label + " ", s);
  }
  const refreshMenus = () => document.querySelectorAll("#steps select").forEach((s) => s._refresh && s._refresh());

  function button(cls, text, title, onClick) {
    const b = el("button", { type: "button", className: cls, text, title: title || text });
    b.addEventListener("click", () => { onClick(); touched(); render(); });
    return b;
  }

  function fieldRow(step, f, j) {
    const row = el("li", { className: "field", "data-field": f.key });
    row.append(
      input("field-label", f.label, "Label", (v) => { f.label = v; }, (v) => renameField(step, f, v)),
      select("field-kind", KINDS.map((k) => [k, k]), f.kind, "Type", (v) => { f.kind = v; if (v !== "choice") f.choices = []; }),
    );
    if (f.kind === "choice") {
      row.append(input("field-choices", f.choices.join(", "), "Choices (comma-separated)", (v) => { f.choices = v.split(",").map((c) => c.trim()).filter(Boolean); }));
    }
    const req = el("input", { type: "checkbox", className: "field-required", checked: !!f.required, id: "req-" + step.key + "-" + j });
    req.addEventListener("change", () => { f.required = req.checked; touched(); });
    const props = [["", "— not saved to the contact —"]].concat(D.properties.filter((p) => p.kind === f.kind).map((p) => [p.name, "Save to " + p.label]));
    row.append(
      el("label", { className: "inline", htmlFor: req.id }, req, " Required"),
      select("field-property", props, f.property || "", "Contact property", (v) => { f.property = v || null; }),
      button("field-delete", "Remove field", "Remove this field", () => { step.fields.splice(j, 1); step.branches = step.branches.filter((b) => b.field !== f.key); }),
    );
    return row;
  }

  function stepCard(step, i) {
    const li = el("li", { className: "step card", id: "step-" + i, "data-key": step.key });
    const head = el("div", { className: "step-head" },
      el("strong", { text: "Step " + (i + 1) }),
      button("step-up", "↑", "Move this step up", () => { if (i > 0) S.steps.splice(i - 1, 0, S.steps.splice(i, 1)[0]); }),
      button("step-down", "↓", "Move this step down", () => { if (i < S.steps.length - 1) S.steps.splice(i + 1, 0, S.steps.splice(i, 1)[0]); }),
      button("step-delete", "Delete step", "Delete this step", () => {
        S.steps.splice(i, 1);
        S.steps.forEach((s) => { if (s.next === step.key) s.next = null; s.branches = s.branches.filter((b) => b.to !== step.key); });
      }),
    );
    const textId = "text-" + i;
    const text = el("textarea", { className: "step-text", id: textId, rows: 3, value: step.text || "" });
    text.addEventListener("input", () => { step.text = text.value; touched(); });
    const fields = el("ul", { className: "fields" });
    step.fields.forEach((f, j) => fields.append(fieldRow(step, f, j)));
    const discl = el("ul", { className: "disclosures" });
    step.disclosures.forEach((d, j) => discl.append(el("li", { className: "disclosure" },
      input("disclosure-text", d.text, "Disclosure to read out", (v) => { d.text = v; }),
      button("disclosure-delete", "Remove", "Remove this disclosure", () => { step.disclosures.splice(j, 1); }))));
    const targets = () => S.steps.map((s, k) => [s.key, (k + 1) + ". " + (s.title || s.key)]);
    const branches = el("ul", { className: "branches" });
    step.branches.forEach((b, j) => branches.append(el("li", { className: "branch" },
      select("branch-field", () => step.fields.map((f) => [f.key, f.label || f.key]), () => b.field, "When", (v) => { b.field = v; }),
      input("branch-equals", b.equals, "is", (v) => { b.equals = v; }),
      select("branch-to", targets, () => b.to, "go to", (v) => { b.to = v; }),
      button("branch-delete", "Remove", "Remove this branch", () => { step.branches.splice(j, 1); }))));
    li.append(
      head,
      input("step-title", step.title, "Title", (v) => { step.title = v; }, (v) => renameStep(step, v)),
      el("label", { htmlFor: textId, text: "What the agent says" }), text,
      el("h3", { text: "Fields to collect" }), fields,
      button("add-field", "Add a field", null, () => {
        const key = unique("field", step.fields.map((f) => f.key));
        step.fields.push({ key, label: "", kind: "text", choices: [], required: true, property: null });
      }),
      el("h3", { text: "Disclosures (must be acknowledged)" }), discl,
      button("add-disclosure", "Add a disclosure", null, () => {
        step.disclosures.push({ key: unique("disclosure-" + (step.disclosures.length + 1), step.disclosures.map((d) => d.key)), text: "" });
      }),
      el("h3", { text: "Branches" }), branches,
      step.fields.length ? button("add-branch", "Add a branch", null, () => {
        step.branches.push({ field: step.fields[0].key, equals: "", to: S.steps[Math.min(i + 1, S.steps.length - 1)].key });
      }) : el("p", { className: "muted", text: "Add a field to branch on its answer." }),
      select("step-next", () => [["", "End of the script (final step)"]].concat(targets().filter(([k]) => k !== step.key)), () => step.next || "", "Otherwise go to", (v) => { step.next = v || null; }),
    );
    return li;
  }

  // Re-draws the steps, keeping keyboard focus on the same control of the same step.
  function render() {
    const list = $("steps");
    const a = document.activeElement;
    let again = null;
    if (a && list.contains(a) && a.className) {
      const stepEl = a.closest("li.step");
      const same = stepEl ? Array.from(stepEl.getElementsByClassName(a.className)) : [];
      again = { step: stepEl && stepEl.id, cls: a.className, nth: same.indexOf(a) };
    }
    list.innerHTML = "";
    S.steps.forEach((s, i) => list.append(stepCard(s, i)));
    if (again && again.step && $(again.step)) {
      const same = $(again.step).getElementsByClassName(again.cls);
      const target = same[Math.max(0, Math.min(again.nth, same.length - 1))];
      if (target) target.focus();
    }
    preview();
  }

  // The preview fills merge fields from the sample contact as the desktop will.
  function fill(t) {
    const c = D.sample || {};
    const v = { "agent.name": D.agent_name, "client.name": D.client_name };
    ["first_name", "last_name", "phone", "email"].forEach((k) => { if (c[k]) v["contact." + k] = c[k]; });
    Object.entries(c.properties || {}).forEach(([k, x]) => { v["contact.properties." + k] = String(x); });
    return (t || "").replace(/\{\{\s*([^}]+?)\s*\}\}/g, (_, k) => (v[k] ? v[k] : "[" + k + "]"));
  }
  function preview() {
    const p = $("preview");
    const c = D.sample;
    $("preview-who").textContent = c ? "For " + [c.first_name, c.last_name].filter(Boolean).join(" ") + " (" + c.phone + ")" : "No contact yet: merge fields show as [placeholders].";
    p.innerHTML = "";
    S.steps.forEach((s, i) => {
      const d = el("div", { className: "preview-step" }, el("h3", { text: (i + 1) + ". " + (s.title || "(untitled)") }), el("p", { text: fill(s.text) }));
      s.disclosures.forEach((x) => d.append(el("p", { className: "disclosure", text: "Disclosure: " + fill(x.text) })));
      s.fields.forEach((f) => d.append(el("p", { className: "muted", text: (f.label || f.key) + " (" + f.kind + (f.required ? ", required" : "") + ")" })));
      p.append(d);
    });
  }

  const status = (t) => { $("builder-status").textContent = t; };
  const fail = (m) => { const e = $("builder-error"); e.textContent = m; e.hidden = !m; };
  async function save() {
    S.name = $("script-name").value;
    fail("");
    const r = await api("PUT", base, S);
    if (!r.ok) { fail(reason(r.data, "Not saved.")); status(""); return null; }
    D.version = r.data.latest.version; D.draft = !r.data.latest.published_at;
    dirty = false; showVersion(); return r;
  }
  $("add-step").addEventListener("click", () => {
    const key = unique("step-" + (S.steps.length + 1), S.steps.map((s) => s.key));
    S.steps.push({ key, title: "Step " + (S.steps.length + 1), text: "", fields: [], disclosures: [], branches: [], next: null });
    touched(); render();
    const last = $("steps").lastElementChild;
    if (last) last.querySelector(".step-title").focus();
  });
  $("save-script").addEventListener("click", async () => { if (await save()) status("Saved as draft version " + D.version + "."); });
  $("publish-script").addEventListener("click", async () => {
    if (!(await save())) return;
    const r = await api("POST", base + "/publish");
    if (!r.ok) { fail(reason(r.data, "Not published.")); return; }
    D.published_version = r.data.published.version; D.draft = false; showVersion();
    status("Published version " + D.published_version + ": new calls run it.");
    fillCampaigns();
  });
  function fillCampaigns() {
    const s = $("use-campaign");
    s.innerHTML = "";
    if (!D.campaigns.length) s.append(el("option", { value: "", text: "No campaigns yet" }));
    D.campaigns.forEach((c) => s.append(el("option", { value: c.id, text: c.name + (c.script ? " (runs " + c.script + ")" : "") })));
  }
  $("use-script").addEventListener("click", async () => {
    const id = $("use-campaign").value;
    if (!id) return;
    const r = await api("PUT", "/api/v1/clients/" + D.client_id + "/campaigns/" + id + "/script", { script_id: D.script_id });
    $("use-status").textContent = r.ok ? "The campaign's calls now run this script." : reason(r.data, "Not changed.");
    if (r.ok) { D.campaigns.forEach((c) => { if (String(c.id) === id) c.script = S.name; }); fillCampaigns(); $("use-campaign").value = id; }
  });
  window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });
  $("script-name").value = S.name;
  $("script-name").addEventListener("input", touched);
  showVersion();
  fillCampaigns();
  render();
  status("");
})();
