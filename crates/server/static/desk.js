// The agent desktop's working panels: the contact card (details editable inline, list, previous
// calls), the campaign's script, the call's notes, the manual-call form and the shortcut help.
// desktop.js hands every live message to window.paleraDesk.
//
// Notes are never lost: every keystroke is kept at once in localStorage (a draft per call and
// tab, which survives a reload and a lost network), and sent to the server 600 ms after typing
// stops with the version it was written on. A save that did not see the latest version gets 409
// and both texts are shown; nothing is overwritten silently. Unsent drafts are re-sent when the
// network is back, after a reload, and in the background for drafts a closed tab left behind.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const err = $("desktop-error");
  const tab = sessionStorage.getItem("palera:tab") || String(Date.now()) + Math.random().toString(16).slice(2, 8);
  sessionStorage.setItem("palera:tab", tab);

  async function api(method, path, body) {
    const r = await fetch(path, {
      method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await r.json().catch(() => null);
    return { status: r.status, ok: r.ok, data };
  }
  const reason = (data, fallback) => (data && data.error && data.error.message) || fallback;
  // Times in the client's zone when the agent works for one client, else the browser's; labelled.
  const zone = (document.querySelector(".desktop") || { dataset: {} }).dataset.clientZone || undefined;
  const when = (ms) => {
    try {
      return new Date(ms).toLocaleString([], { timeZone: zone, timeZoneName: "short" });
    } catch (e) {
      return new Date(ms).toLocaleString([], { timeZoneName: "short" });
    }
  };
  window.paleraWhen = when;
  const mmss = (s) => (s == null ? "—" : Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"));

  // ---- contact card -------------------------------------------------------------------------
  let card = null; // the last card loaded
  let cardWant = null; // {contact, call, campaign} of the newest request
  // The card of a contact (with the call's notes and the campaign's script), or of a call whose
  // contact the page does not know yet (a reload during wrap-up): contactId null.
  async function loadCard(contactId, callId, campaignId) {
    cardWant = { contactId, callId, campaignId };
    const q = new URLSearchParams();
    if (callId) q.set("call_id", callId);
    if (campaignId) q.set("campaign_id", campaignId);
    const r = await api("GET", contactId ? "/api/v1/contacts/" + contactId + "/card?" + q : "/api/v1/calls/" + callId + "/card");
    if (cardWant.contactId !== contactId || cardWant.callId !== callId) return; // superseded
    if (r.ok && !contactId) { cardWant.contactId = r.data.contact.id; campaignId = r.data.script ? true : null; }
    if (!r.ok) { err.textContent = reason(r.data, "The contact could not be loaded."); err.hidden = false; return; }
    card = r.data;
    renderCard(card);
    renderScript(card.script, card.contact, campaignId, callId);
    if (callId && card.notes) Notes.bind(callId, card.notes);
  }

  const BUILT_IN = [["first_name", "First name", "text"], ["last_name", "Last name", "text"], ["email", "E-mail", "email"], ["time_zone", "Time zone", "text"]];
  function renderCard(c) {
    const x = c.contact;
    $("contact-card").dataset.contactId = x.id;
    $("card-empty").hidden = true;
    $("card-body").hidden = false;
    $("card-name").textContent = [x.first_name, x.last_name].filter(Boolean).join(" ") || "(no name)";
    $("card-phone").textContent = x.phone;
    $("card-list").textContent = c.list ? c.list.name : "(no list)";
    $("card-conversation").href = c.conversation_url;
    const form = $("card-fields");
    form.innerHTML = "";
    BUILT_IN.forEach(([name, label, kind]) => form.appendChild(fieldRow(x.id, name, label, kind, [], x[name])));
    c.properties.forEach((p) => form.appendChild(fieldRow(x.id, "properties." + p.name, p.label + (p.required ? " *" : ""), p.kind, p.choices, x.properties[p.name])));
    const body = $("card-calls");
    body.innerHTML = "";
    if (!c.calls.length) { const tr = body.insertRow(); const td = tr.insertCell(); td.colSpan = 6; td.className = "muted"; td.textContent = "No calls yet."; }
    c.calls.forEach((k) => {
      const tr = body.insertRow();
      tr.dataset.callId = k.id;
      [when(k.placed_at), k.campaign || (k.manual ? "Manual" : k.direction), k.agent || "—", k.status + " · " + k.outcome, mmss(k.duration_seconds), k.disposition || "—"]
        .forEach((t) => { tr.insertCell().textContent = t; });
      if (k.notes) tr.title = k.notes;
    });
  }

  // One editable field: saved on change (and Enter); a refusal names the field and says why.
  function fieldRow(contactId, field, label, kind, choices, value) {
    const row = document.createElement("div");
    row.className = "field-row";
    const id = "f-" + field.replace(".", "-");
    const l = document.createElement("label");
    l.htmlFor = id; l.textContent = label;
    let input;
    if (kind === "choice") {
      input = document.createElement("select");
      ["", ...choices].forEach((v) => { const o = document.createElement("option"); o.value = v; o.textContent = v || "—"; input.appendChild(o); });
      input.value = value == null ? "" : String(value);
    } else if (kind === "boolean") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = value === true;
    } else {
      input = document.createElement("input");
      input.type = kind === "date" ? "date" : "text";
      if (kind === "number") input.inputMode = "decimal";
      if (kind === "email") input.inputMode = "email";
      input.value = value == null ? "" : String(value);
    }
    input.id = id; input.name = field; input.dataset.field = field;
    const msg = document.createElement("p");
    msg.className = "error"; msg.setAttribute("role", "alert"); msg.hidden = true; msg.id = id + "-error";
    input.setAttribute("aria-describedby", msg.id);
    let last = kind === "boolean" ? input.checked : input.value;
    async function save() {
      const v = kind === "boolean" ? input.checked : input.value;
      if (v === last) return;
      const r = await api("POST", "/api/v1/contacts/" + contactId + "/field", { field, value: v });
      if (r.ok) {
        last = v;
        msg.hidden = true; input.classList.remove("bad"); input.removeAttribute("aria-invalid");
        row.dataset.saved = "true";
        if (card) card.contact = r.data;
      } else {
        const m = reason(r.data, "Not saved.");
        const f = r.data && r.data.error && r.data.error.field;
        // Name the field as the agent sees it.
        msg.textContent = label.replace(/ \*$/, "") + ": " + (f && m.startsWith(f + ": ") ? m.slice(f.length + 2) : m);
        msg.hidden = false; input.classList.add("bad"); input.setAttribute("aria-invalid", "true");
        row.dataset.saved = "false";
      }
    }
    input.addEventListener("change", save);
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); save(); } });
    row.append(l, input, msg);
    return row;
  }

  // ---- script -------------------------------------------------------------------------------
  // An external page takes priority; else the campaign's built script (script-run.js), else its
  // plain text.
  function renderScript(script, contact, campaignId, callId) {
    const p = $("script-panel");
    p.innerHTML = "";
    if (!(script && script.url) && callId && window.paleraScriptRun) {
      window.paleraScriptRun.show(p, callId, () => renderScript(script, contact, campaignId, null));
      return;
    }
    if (!campaignId) { p.innerHTML = '<p class="muted">No script for this call.</p>'; return; }
    if (!script || (!script.text && !script.url)) { p.innerHTML = '<p class="muted">This campaign has no script.</p>'; return; }
    if (script.url) {
      const a = document.createElement("a");
      a.href = script.url; a.target = "_blank"; a.rel = "noopener"; a.textContent = "Open the script in a new tab";
      a.id = "script-link";
      const f = document.createElement("iframe");
      f.src = script.url; f.title = "Campaign script";
      f.setAttribute("sandbox", "allow-scripts allow-same-origin allow-popups allow-forms");
      p.append(a, f);
      return;
    }
    const fill = (t) => t.replace(/\{\{\s*contact\.(\w+)\s*\}\}/g, (_, k) => {
      const v = contact[k] != null ? contact[k] : (contact.properties || {})[k];
      return v == null || v === "" ? "…" : String(v);
    });
    const d = document.createElement("div");
    d.id = "script-text";
    d.textContent = fill(script.text);
    p.appendChild(d);
  }

  // ---- notes --------------------------------------------------------------------------------
  const Notes = (function () {
    const box = $("notes"), status = $("notes-status"), conflict = $("notes-conflict");
    let call = null, base = 0, timer = null, sending = false, again = false, retryMs = 1000, inConflict = null;
    const key = (c) => "palera:notes:" + c + ":" + tab;
    const read = (k) => { try { return JSON.parse(localStorage.getItem(k)); } catch (_) { return null; } };
    function keep() { localStorage.setItem(key(call), JSON.stringify({ call, text: box.value, base, dirty: true, at: Date.now() })); }
    function clean(text) {
      const d = read(key(call));
      if (d && d.text === text) localStorage.removeItem(key(call));
    }
    function say(t, state) { status.textContent = t; status.dataset.state = state; }

    function bind(callId, server) {
      if (call === callId) { if (!read(key(call)) && server.version > base) { box.value = server.text; base = server.version; } return; }
      // The previous call's unsent text is sent on its own; it stays on this device until then.
      const prev = call && read(key(call));
      if (prev && prev.dirty && !inConflict) flush(key(call), prev);
      call = callId; base = server.version; inConflict = null; conflict.hidden = true;
      box.disabled = false;
      const d = read(key(callId));
      if (d && d.dirty && d.text !== server.text) {
        box.value = d.text; base = d.base;
        say("Restored your unsaved notes; saving…", "saving");
        send();
      } else {
        if (d) localStorage.removeItem(key(callId));
        box.value = server.text;
        say(server.version ? "Saved." : "Notes belong to the call; they save themselves.", "saved");
      }
      box.dataset.callId = callId;
    }
    async function send() {
      if (!call || inConflict) return;
      if (sending) { again = true; return; }
      sending = true;
      const c = call, text = box.value;
      let r;
      try { r = await api("PUT", "/api/v1/calls/" + c + "/notes", { text, base_version: base }); }
      catch (_) { r = null; }
      sending = false;
      if (c !== call) return;
      if (r && r.ok) {
        base = r.data.version; retryMs = 1000;
        if (box.value === text) { clean(text); say("Saved.", "saved"); } else { keep(); again = true; }
      } else if (r && r.status === 409) {
        inConflict = r.data.current;
        $("conflict-theirs").textContent = inConflict.text;
        conflict.hidden = false;
        say("Not saved: a newer version was saved elsewhere. Choose below.", "conflict");
      } else if (r && r.status >= 400 && r.status < 500) {
        say("Not saved: " + reason(r.data, "refused") + " (kept on this device).", "refused");
      } else {
        say("Offline — your notes are kept on this device and will be sent when the network is back.", "offline");
        setTimeout(send, retryMs); retryMs = Math.min(retryMs * 2, 10000);
      }
      if (again) { again = false; send(); }
    }
    box.addEventListener("input", () => {
      if (!call) return;
      keep();
      if (!inConflict) say("Typing…", "typing");
      clearTimeout(timer);
      timer = setTimeout(send, 600);
    });
    $("conflict-mine").addEventListener("click", () => {
      if (!inConflict) return;
      base = inConflict.version; inConflict = null; conflict.hidden = true; keep(); send(); box.focus();
    });
    $("conflict-theirs-btn").addEventListener("click", () => {
      if (!inConflict) return;
      box.value = inConflict.text; base = inConflict.version; inConflict = null; conflict.hidden = true;
      clean(box.value); localStorage.removeItem(key(call)); say("Saved.", "saved"); box.focus();
    });
    window.addEventListener("online", () => { if (call && read(key(call))) send(); });
    // Another tab (or this one) saved: follow it unless we have unsaved text of our own.
    function onSaved(msg) {
      if (msg.call_id !== call || msg.version <= base) return;
      if (!read(key(call)) && !sending) { box.value = msg.text; base = msg.version; say("Saved.", "saved"); }
    }
    // Sends a draft that is not the current call's, with the version it was written on.
    async function flush(k, d) {
      const r = await api("PUT", "/api/v1/calls/" + d.call + "/notes", { text: d.text, base_version: d.base }).catch(() => null);
      const now = read(k);
      if (r && (r.ok || r.status === 404) && now && now.text === d.text) localStorage.removeItem(k);
      else if (r && r.status === 409) { err.textContent = "Notes of an earlier call (call " + d.call + ") were saved elsewhere meanwhile; your text is kept on this device."; err.hidden = false; }
    }
    // Drafts of earlier calls and of tabs that are gone (older than 30 s) are sent again.
    function sweep() {
      for (let i = localStorage.length - 1; i >= 0; i--) {
        const k = localStorage.key(i);
        if (!k || !k.startsWith("palera:notes:") || k === key(call)) continue;
        const d = read(k);
        if (d && d.dirty && Date.now() - d.at >= 30000) flush(k, d);
      }
    }
    setTimeout(sweep, 2000);
    setInterval(sweep, 30000);
    return { bind, onSaved, box };
  })();

  // ---- live messages ------------------------------------------------------------------------
  window.paleraDesk = function (msg) {
    if (msg.type === "call_offered") {
      loadCard(msg.contact.contact_id, msg.call_id, msg.contact.campaign_id);
    } else if (msg.type === "manual_call" || msg.type === "inbound_call") {
      loadCard(msg.contact_id, msg.call_id, null);
    } else if (msg.type === "call_connected" || msg.type === "call_ended") {
      if (cardWant && cardWant.callId === msg.call_id) loadCard(cardWant.contactId, msg.call_id, cardWant.campaignId);
      else loadCard(null, msg.call_id, null);
    } else if (msg.type === "notes_saved") {
      Notes.onSaved(msg);
    }
  };

  // ---- manual call --------------------------------------------------------------------------
  $("manual-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("manual-error");
    out.hidden = true;
    const client = $("manual-client");
    const body = { number: $("manual-number").value };
    if (client && client.value) body.client_id = Number(client.value);
    const r = await api("POST", "/api/v1/me/manual-call", body);
    if (!r.ok) { out.textContent = reason(r.data, "The call could not be placed."); out.hidden = false; return; }
    $("manual-number").value = "";
  });

  // ---- keyboard -----------------------------------------------------------------------------
  // Enter on the disposition picker saves it (a select does not submit its form by itself).
  $("disposition").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); $("disposition-form").requestSubmit(); }
  });
  const help = $("help");
  $("help-open").addEventListener("click", () => help.showModal());
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    if (e.key === "?" && !typing && !e.altKey && !e.ctrlKey) { e.preventDefault(); help.open ? help.close() : help.showModal(); return; }
    if (!e.altKey) return;
    if (e.key === "n" && !Notes.box.disabled) { e.preventDefault(); Notes.box.focus(); }
    if (e.key === "k") { e.preventDefault(); $("manual-number").focus(); } // Alt+M is mute
  });
})();
