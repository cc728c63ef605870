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
    stateEl.textContent = label;
    stateEl.dataset.state = state;
    stateEl.className = "pill state-" + state;
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

// The minimal call panel: the contact offered or on the line, preview Call/Skip, and the
// disposition picker during wrap-up. Every action goes through the JSON API.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const panel = $("call-panel"), status = $("call-status"), contact = $("call-contact");
  const preview = $("preview-actions"), form = $("disposition-form"), select = $("disposition");
  let callId = null, dispositions = [], timer = null, onHold = false;

  function show(state, text) {
    panel.dataset.status = state;
    status.textContent = text;
    preview.hidden = state !== "preview";
    form.hidden = state !== "wrap_up";
    $("call-actions").hidden = state !== "on_call";
    if (state !== "on_call") setHold(false);
  }
  function setHold(on) {
    onHold = on;
    const b = $("call-hold");
    b.setAttribute("aria-pressed", String(on));
    b.firstChild.textContent = on ? "Resume " : "Hold ";
  }
  function showContact(c) {
    contact.hidden = !c;
    if (!c) return;
    $("call-name").textContent = c.name || "—";
    $("call-phone").textContent = c.phone;
    $("call-campaign").textContent = c.campaign;
  }
  async function post(path, body) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    if (!r.ok) {
      const b = await r.json().catch(() => ({}));
      const err = $("desktop-error");
      err.textContent = (b.error && b.error.message) || "Request failed"; err.hidden = false;
    }
    return r.ok;
  }
  const known = ["call_offered", "manual_call", "inbound_call", "call_connected", "call_ended", "call_cleared"];
  window.paleraCall = function (msg) {
    if (window.paleraDesk) window.paleraDesk(msg);
    if (msg.type === "call_hold") {
      setHold(msg.on_hold);
      status.textContent = msg.on_hold ? "On hold — the contact hears the hold music." : "On call.";
      return;
    }
    if (!known.includes(msg.type)) return;
    clearInterval(timer);
    if (msg.type === "manual_call") {
      callId = msg.call_id;
      showContact({ name: msg.name, phone: msg.phone, campaign: "Manual call" });
      show("ringing", "Dialling…");
    } else if (msg.type === "inbound_call") {
      callId = msg.call_id;
      showContact({ name: msg.name || msg.phone, phone: msg.phone, campaign: "Inbound call" });
    } else if (msg.type === "call_offered") {
      callId = msg.call_id;
      showContact(msg.contact);
      if (msg.preview) show("preview", "Next contact — call or skip.");
      else show("ringing", "Dialling…");
    } else if (msg.type === "call_connected") {
      callId = msg.call_id;
      show("on_call", "On call.");
    } else if (msg.type === "call_ended") {
      callId = msg.call_id;
      dispositions = msg.dispositions;
      select.innerHTML = "";
      dispositions.forEach((d) => { const o = document.createElement("option"); o.value = d.id; o.textContent = d.label; o.dataset.effect = d.effect; select.appendChild(o); });
      select.dispatchEvent(new Event("change"));
      show("wrap_up", "Call ended — choose a disposition.");
      let left = msg.wrap_up_seconds;
      $("wrap-timer").textContent = left + " s left";
      timer = setInterval(() => { left -= 1; $("wrap-timer").textContent = Math.max(left, 0) + " s left"; }, 1000);
      select.focus();
    } else if (msg.type === "call_cleared") {
      callId = null;
      showContact(null);
      show("none", "No call. Calls arrive here while you are Ready.");
    }
  };
  select.addEventListener("change", () => {
    const o = select.selectedOptions[0];
    $("callback-label").hidden = !(o && o.dataset.effect === "callback");
  });
  const hold = () => post("/api/v1/calls/" + callId + (onHold ? "/resume" : "/hold"));
  const hangUp = () => post("/api/v1/calls/" + callId + "/hangup");
  $("call-hold").addEventListener("click", hold);
  $("call-hangup").addEventListener("click", hangUp);
  $("preview-call").addEventListener("click", () => post("/api/v1/me/preview/call"));
  $("preview-skip").addEventListener("click", () => post("/api/v1/me/preview/skip"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { disposition_id: Number(select.value) };
    const at = $("callback-at").value;
    if (!$("callback-label").hidden && at) body.callback_at = new Date(at).toISOString();
    post("/api/v1/calls/" + callId + "/disposition", body);
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
})();
