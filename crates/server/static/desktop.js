// The agent desktop's live link: one WebSocket that carries voice-state changes both ways and a
// heartbeat; reconnects by itself with backoff and resyncs state from the server's first message.
(function () {
  "use strict";
  const root = document.querySelector(".desktop");
  const stateEl = document.getElementById("voice-state");
  const errEl = document.getElementById("desktop-error");
  const linkEl = document.getElementById("link-status");
  const buttons = Array.from(document.querySelectorAll("[data-set-state]"));
  const heartbeatMs = Number(root.dataset.heartbeatMs) || 20000;
  let ws = null, beat = null, retry = 500;

  function show(state, label) {
    stateEl.dataset.label = label;
    // During a call the call bar's phase stays on the pill ("Ready for Voice" only without one).
    if (!stateEl.dataset.phase) stateEl.textContent = label;
    stateEl.dataset.state = state;
    stateEl.className = "pill state-" + state + (stateEl.dataset.phase ? " in-call" : "");
    buttons.forEach(b => b.setAttribute("aria-pressed", String(b.dataset.setState === state)));
  }
  show(stateEl.dataset.state, stateEl.textContent);

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws/desktop");
    ws.onopen = () => {
      retry = 500;
      linkEl.textContent = "Connected";
      beat = setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: "heartbeat" })), heartbeatMs);
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      document.dispatchEvent(new CustomEvent("palera:message", { detail: msg })); // softphone hook
      if (msg.type === "call_audio") return; // for the softphone only (static/softphone.js)
      if (msg.type === "state") { show(msg.state, msg.label); errEl.hidden = true; }
      else if (msg.type === "error" && document.getElementById("call-panel").dataset.status !== "none") {
        const e = document.getElementById("call-error"); e.textContent = msg.message; e.hidden = false;
      }
      else if (msg.type === "error") { errEl.textContent = msg.message; errEl.hidden = false; }
      else if (window.paleraCall) { window.paleraCall(msg); }
    };
    ws.onclose = () => {
      clearInterval(beat);
      linkEl.textContent = "Reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function setState(state) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "set_state", state }));
    else { errEl.textContent = "Not connected; try again in a moment."; errEl.hidden = false; }
  }
  buttons.forEach(b => b.addEventListener("click", () => setState(b.dataset.setState)));
  document.addEventListener("keydown", (e) => {
    if (!e.altKey) return;
    const map = { "1": "ready", "2": "standby", "3": "offline" };
    if (map[e.key]) { e.preventDefault(); setState(map[e.key]); }
  });
  connect();

  // Twilio mode: keep one Voice SDK access token per client fresh, renewing at 80% of its life
  // (and retrying after 30 s on failure). The softphone reads window.paleraVoiceTokens and
  // listens for "palera:voice-token" events.
  const tokens = window.paleraVoiceTokens = {};
  function refreshToken(clientId) {
    fetch("/api/v1/clients/" + clientId + "/voice-token", { credentials: "same-origin" })
      .then(r => r.ok ? r.json() : Promise.reject(r.status))
      .then(t => {
        tokens[clientId] = t;
        document.dispatchEvent(new CustomEvent("palera:voice-token", { detail: { clientId, token: t } }));
        // From the lifetime, not expires_at: the browser clock may be off.
        setTimeout(() => refreshToken(clientId), Math.max(5000, t.ttl_seconds * 800));
      })
      .catch(() => setTimeout(() => refreshToken(clientId), 30000));
  }
  (root.dataset.voiceTokenClients || "").split(" ").filter(Boolean).forEach(refreshToken);
})();

// The call bar (always in view): who is on the line, the call's phase and timer, exactly the
// actions that apply now, the wrap-up countdown with its warning, the disposition picker (nothing
// preselected; a callback time is typed in the contact's own zone and checked by the server),
// "pause after this call", errors beside the controls, the new-call alert (a beep and the tab
// title, which the agent may turn off), time in state, today's figures and the agent's callbacks.
// Every action goes through the JSON API.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const panel = $("call-panel"), status = $("call-status"), contact = $("call-contact");
  const preview = $("preview-actions"), form = $("disposition-form"), select = $("disposition");
  const errEl = $("call-error"), warnEl = $("wrap-warning"), stateEl = $("voice-state");
  const WARN_AT = 10; // seconds of wrap-up left when the warning shows
  const PHASES = { preview: "Previewing", ringing: "Dialling", on_call: "On a call", wrap_up: "Wrap-up" };
  let callId = null, wrapTimer = null, callTimer = null, onHold = false, offered = false;
  let stateSince = Date.now(), baseTitle = document.title;
  const mmss = (s) => Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");

  function clearError() { errEl.hidden = true; errEl.textContent = ""; }
  function showError(text) { errEl.textContent = text; errEl.hidden = false; }
  function show(state, text) {
    if (panel.dataset.status !== state) stateSince = Date.now();
    panel.dataset.status = state;
    status.textContent = text;
    preview.hidden = state !== "preview";
    form.hidden = state !== "wrap_up";
    $("call-actions").hidden = state !== "on_call";
    if (state !== "on_call") setHold(false);
    if (state !== "wrap_up") { clearInterval(wrapTimer); warnEl.hidden = true; }
    if (state !== "on_call") { clearInterval(callTimer); $("call-timer").hidden = true; }
    // The pill says what the agent is doing; "Ready for Voice" only when there is no call.
    const phase = PHASES[state];
    $("call-phase").textContent = phase ? "· " + phase : "";
    stateEl.classList.toggle("in-call", !!phase);
    if (phase) { stateEl.textContent = phase; stateEl.dataset.phase = state; }
    else if (stateEl.dataset.phase) { delete stateEl.dataset.phase; stateEl.textContent = stateEl.dataset.label || stateEl.textContent; }
  }
  function setHold(on) {
    onHold = on;
    const b = $("call-hold");
    b.setAttribute("aria-pressed", String(on));
    b.firstChild.textContent = on ? "Resume " : "Hold ";
  }
  function showContact(c) {
    contact.hidden = !c;
    if (!c) { $("call-name").textContent = ""; $("call-phone").textContent = ""; $("call-campaign").textContent = ""; return; }
    $("call-name").textContent = c.name || "(no name)";
    $("call-phone").textContent = c.phone || "";
    $("call-campaign").textContent = c.campaign || "";
  }
  async function post(path, body) {
    clearError();
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    if (!r.ok) {
      const b = await r.json().catch(() => ({}));
      showError((b.error && b.error.message) || "The request failed; try again.");
      return { ok: false, field: b.error && b.error.field };
    }
    return { ok: true };
  }
  // New-call alert: a short beep (WebAudio) and the tab title, unless turned off.
  const alertBox = $("alert-on");
  alertBox.checked = localStorage.getItem("palera:alert") !== "off";
  alertBox.addEventListener("change", () => localStorage.setItem("palera:alert", alertBox.checked ? "on" : "off"));
  function alertNewCall(who) {
    if (!alertBox.checked) return;
    document.title = "● New call: " + (who || "contact") + " — " + baseTitle;
    document.body.dataset.alerted = String(Number(document.body.dataset.alerted || 0) + 1);
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      const ctx = window.paleraAudio || (window.paleraAudio = new Ctx());
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.1;
      o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.25);
    } catch (_) { /* no audio: the title still tells */ }
  }
  const calm = () => { document.title = baseTitle; };
  window.addEventListener("focus", calm);
  document.addEventListener("keydown", calm);
  document.addEventListener("click", calm);

  function startCallTimer() {
    const t = $("call-timer"), from = Date.now();
    t.hidden = false; t.textContent = "0:00";
    clearInterval(callTimer);
    callTimer = setInterval(() => { t.textContent = mmss(Math.round((Date.now() - from) / 1000)); }, 1000);
  }
  function startWrapUp(seconds) {
    const end = Date.now() + seconds * 1000, t = $("wrap-timer");
    const tick = () => {
      const left = Math.max(0, Math.round((end - Date.now()) / 1000));
      t.textContent = mmss(left) + " left";
      if (left <= WARN_AT) {
        warnEl.hidden = false;
        warnEl.textContent = left > 0 ? "Wrap-up ends in " + left + " s: save a disposition or it is saved for you." : "Wrap-up time is up.";
      }
    };
    tick();
    clearInterval(wrapTimer);
    wrapTimer = setInterval(tick, 1000);
  }
  async function wrapUpFacts(id) {
    $("callback-zone").textContent = "";
    const r = await fetch("/api/v1/calls/" + id + "/wrap-up").catch(() => null);
    if (!r || !r.ok || id !== callId) return;
    const f = await r.json();
    $("callback-zone").textContent = "(" + f.time_zone + ", " + f.window_start + "–" + f.window_end + ")";
    $("callback-at").min = f.local_now;
    $("callback-at").dataset.zone = f.time_zone;
  }
  function fillDispositions(list) {
    select.innerHTML = "";
    const none = document.createElement("option");
    none.value = ""; none.textContent = "Choose…"; none.disabled = true; none.selected = true;
    select.appendChild(none);
    list.forEach((d) => { const o = document.createElement("option"); o.value = d.id; o.textContent = d.label; o.dataset.effect = d.effect; select.appendChild(o); });
    select.value = "";
    $("callback-at").value = "";
    $("callback-label").hidden = true;
  }
  const known = ["call_offered", "manual_call", "inbound_call", "call_connected", "call_ended", "call_cleared"];
  window.paleraCall = function (msg) {
    if (window.paleraDesk) window.paleraDesk(msg);
    if (msg.type === "call_hold") {
      setHold(msg.on_hold);
      status.textContent = msg.on_hold ? "On hold." : "On call.";
      return;
    }
    if (!known.includes(msg.type)) return;
    if (msg.type !== "call_connected" || msg.call_id !== callId) clearError();
    if (msg.type === "manual_call") {
      callId = msg.call_id; offered = true;
      showContact({ name: msg.name, phone: msg.phone, campaign: "Manual call" });
      show("ringing", "Dialling…");
    } else if (msg.type === "inbound_call") {
      callId = msg.call_id; offered = true;
      showContact({ name: msg.name || msg.phone, phone: msg.phone, campaign: "Inbound call" });
    } else if (msg.type === "call_offered") {
      callId = msg.call_id; offered = true;
      showContact(msg.contact);
      if (msg.preview) show("preview", "Next contact — call or skip.");
      else show("ringing", "Dialling…");
      alertNewCall(msg.contact && (msg.contact.name || msg.contact.phone));
    } else if (msg.type === "call_connected") {
      const fresh = msg.call_id !== callId || !offered;
      callId = msg.call_id;
      if (msg.contact) showContact(msg.contact);
      if (fresh && msg.contact) alertNewCall(msg.contact.name || msg.contact.phone);
      offered = true;
      show("on_call", "On call.");
      startCallTimer();
    } else if (msg.type === "call_ended") {
      callId = msg.call_id;
      fillDispositions(msg.dispositions);
      show("wrap_up", "Call ended — choose a disposition.");
      startWrapUp(msg.wrap_up_seconds);
      wrapUpFacts(msg.call_id);
      select.focus();
    } else if (msg.type === "call_cleared") {
      callId = null; offered = false;
      showContact(null);
      $("pause-after").checked = false;
      show("none", "No call. Calls arrive here while you are Ready.");
      Mine.refresh();
    }
  };
  select.addEventListener("change", () => {
    const o = select.selectedOptions[0];
    $("callback-label").hidden = !(o && o.dataset.effect === "callback");
    clearError();
  });
  const hold = async () => {
    const r = await post("/api/v1/calls/" + callId + (onHold ? "/resume" : "/hold"));
    if (!r.ok && r.field === "hold_music_url") {
      showError("Hold is not available: this campaign has no hold music (an admin can add it on the campaign page). The call goes on.");
    }
    return r;
  };
  const hangUp = () => post("/api/v1/calls/" + callId + "/hangup");
  $("call-hold").addEventListener("click", hold);
  $("call-hangup").addEventListener("click", hangUp);
  $("preview-call").addEventListener("click", () => post("/api/v1/me/preview/call"));
  $("preview-skip").addEventListener("click", () => post("/api/v1/me/preview/skip"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!select.value) { showError("Disposition: choose one first."); select.focus(); return; }
    const body = { disposition_id: Number(select.value), pause_after: $("pause-after").checked };
    const at = $("callback-at").value;
    if (!$("callback-label").hidden) {
      if (!at) { showError("Call back at: choose the time (in the contact's zone)."); $("callback-at").focus(); return; }
      body.callback_local = at.length === 16 ? at + ":00" : at;
    }
    const r = await post("/api/v1/calls/" + callId + "/disposition", body);
    if (r.ok) Mine.refresh(); // the callback is on the list once the save has answered
    else if (r.field === "callback_local" || r.field === "callback_at") $("callback-at").focus();
  });
  document.addEventListener("keydown", (e) => {
    if (e.altKey && e.key === "p" && !form.hidden) { e.preventDefault(); select.focus(); }
    if (e.altKey && !$("call-actions").hidden) {
      if (e.key === "h") { e.preventDefault(); hold(); }
      if (e.key === "e") { e.preventDefault(); hangUp(); }
    }
    if (!e.altKey || preview.hidden) return;
    if (e.key === "c") { e.preventDefault(); post("/api/v1/me/preview/call"); }
    if (e.key === "s") { e.preventDefault(); post("/api/v1/me/preview/skip"); }
  });

  // The agent's own figures, time in state and callbacks.
  const Mine = (function () {
    async function refresh() {
      const midnight = new Date(); midnight.setHours(0, 0, 0, 0);
      const t = await fetch("/api/v1/me/today?since=" + midnight.getTime()).then((r) => r.ok ? r.json() : null).catch(() => null);
      if (t) $("today-figures").textContent = "Today: " + t.calls + (t.calls === 1 ? " call" : " calls") + " · " + mmss(t.talk_seconds) + " talk";
      const list = await fetch("/api/v1/me/callbacks").then((r) => r.ok ? r.json() : null).catch(() => null);
      if (!list) return;
      const ul = $("callbacks");
      ul.innerHTML = "";
      if (!list.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "No callbacks due."; ul.appendChild(li); }
      list.forEach((b) => {
        const li = document.createElement("li");
        li.dataset.callId = b.call_id;
        const when = document.createElement("strong"); when.textContent = b.local_time;
        const zone = document.createElement("span"); zone.className = "muted"; zone.textContent = " " + b.time_zone + " · ";
        const who = document.createElement("span"); who.textContent = (b.name || b.phone) + (b.name ? " " + b.phone : "") + " · " + (b.campaign || "Manual call");
        li.append(when, zone, who);
        ul.appendChild(li);
      });
    }
    refresh();
    setInterval(refresh, 60000);
    setInterval(() => { $("state-since").textContent = "for " + mmss(Math.round((Date.now() - stateSince) / 1000)); }, 1000);
    return { refresh, touch: () => { stateSince = Date.now(); } };
  })();
  new MutationObserver(() => { if (!stateEl.dataset.phase) Mine.touch(); }).observe(stateEl, { attributes: true, attributeFilter: ["data-state"] });
})();
