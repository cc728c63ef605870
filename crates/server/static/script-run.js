// The desktop's script panel for a built script: the current step's text (merge fields filled
// in by the server), its fields (answers saved on change, typed and checked by the server, and
// written to the contact where the script says so), its disclosures (acknowledged with a
// checkbox) and "Next step". The server keeps the run and refuses to move on while a required
// field or a disclosure is not done; this panel only shows what the server says.
(function () {
  "use strict";
  const { el, api, reason } = window.paleraDom;
  const shown = (v) => (v === true ? "yes" : v === false ? "no" : String(v));

  let current = null; // the call whose run is shown

  function fieldInput(f, onSave) {
    let i;
    if (f.kind === "choice") {
      i = el("select", {});
      ["", ...f.choices].forEach((c) => i.append(el("option", { value: c, text: c || "—" })));
      i.value = f.value == null ? "" : String(f.value);
    } else if (f.kind === "boolean") {
      i = el("input", { type: "checkbox", checked: f.value === true });
    } else {
      i = el("input", { type: f.kind === "date" ? "date" : "text", value: f.value == null ? "" : String(f.value), autocomplete: "off" });
      if (f.kind === "number") i.inputMode = "decimal";
    }
    i.id = "run-field-" + f.key;
    i.dataset.field = f.key;
    i.addEventListener("change", () => onSave(f.kind === "boolean" ? i.checked : i.value));
    i.addEventListener("keydown", (e) => { if (e.key === "Enter" && f.kind !== "boolean") { e.preventDefault(); onSave(i.value); } });
    return i;
  }

  function draw(panel, v) {
    panel.innerHTML = "";
    const box = el("div", { id: "script-run", "data-step": v.step ? v.step.key : "", "data-finished": String(v.finished) });
    box.append(el("p", { className: "muted", text: v.script_name + " · version " + v.version + (v.done.length ? " · done: " + v.done.join(" → ") : "") }));
    const msg = el("p", { className: "error", id: "script-run-error", role: "alert", hidden: true });
    const fail = (m) => { msg.textContent = m; msg.hidden = !m; };
    const act = async (path, body) => {
      const r = await api("POST", "/api/v1/calls/" + v.call_id + "/script/" + path, body);
      if (current !== v.call_id) return;
      if (r.ok) draw(panel, r.data); else fail(reason(r.data, "Not saved."));
    };
    if (v.finished) {
      box.append(el("h3", { id: "script-step-title", text: "Script finished" }));
      const dl = el("dl", { className: "facts", id: "script-answers" });
      v.answers.forEach(([k, x]) => dl.append(el("dt", { text: k }), el("dd", { text: shown(x) })));
      box.append(dl);
      panel.append(box);
      return;
    }
    const s = v.step;
    box.append(el("h3", { id: "script-step-title", text: s.title }), el("p", { id: "script-text", className: "script-say", text: s.text }));
    s.disclosures.forEach((d) => {
      const c = el("input", { type: "checkbox", id: "run-ack-" + d.key, checked: d.acknowledged_at != null, disabled: d.acknowledged_at != null });
      c.dataset.disclosure = d.key;
      c.addEventListener("change", () => { if (c.checked) act("acknowledge", { disclosure: d.key }); });
      box.append(el("div", { className: "disclosure" }, el("p", { text: d.text }),
        el("label", { htmlFor: c.id, className: "check" }, c, d.acknowledged_at != null ? " Read out at " + new Date(d.acknowledged_at).toLocaleTimeString() : " I read this out")));
    });
    s.fields.forEach((f) => {
      const i = fieldInput(f, (value) => act("answer", { field: f.key, value }));
      box.append(el("div", { className: "field-row" }, el("label", { htmlFor: i.id, text: f.label + (f.required ? " *" : "") + (f.property ? " (saved to the contact)" : "") }), i));
    });
    const next = el("button", { type: "button", id: "script-next", text: s.last ? "Finish the script" : "Next step" });
    next.addEventListener("click", () => act("next"));
    box.append(next, msg);
    if (v.missing.length) box.append(el("p", { className: "muted", id: "script-missing", text: "Still to do: " + v.missing.length + " item(s)." }));
    panel.append(box);
  }

  // Shows the call's built script in `panel`, or calls `fallback` when the call has none.
  async function show(panel, callId, fallback) {
    current = callId;
    const r = await api("GET", "/api/v1/calls/" + callId + "/script");
    if (current !== callId) return;
    if (r.ok) draw(panel, r.data);
    else fallback();
  }

  window.paleraScriptRun = { show };
})();
