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
      if (msg.type === "state") { show(msg.state, msg.label); errEl.hidden = true; }
      else if (msg.type === "error") { errEl.textContent = msg.message; errEl.hidden = false; }
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
