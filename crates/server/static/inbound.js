// Inbound calls on the desktop: an offer rings here with the caller's card (name, number, list,
// last calls, and whether they spoke with this agent before) until accepted, declined or
// withdrawn; and the tray of the clients' missed calls and voicemails, each with a one-click
// call back (the manual-call path) and "Done", which clears it for everyone.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const box = $("inbound-offer");
  if (!box) return;
  let offer = null, timer = null;
  const { api, reason } = window.paleraDom;
  const post = (path, body) => api("POST", path, body || {});
  function hide() { offer = null; clearInterval(timer); box.hidden = true; document.title = document.title.replace(/^\(Incoming\) /, ""); }
  function show(m) {
    offer = m;
    $("inbound-name").textContent = m.name || "Unknown caller";
    $("inbound-phone").textContent = m.phone;
    $("inbound-list").textContent = m.list ? "List: " + m.list : "In no list";
    $("inbound-affinity").hidden = !m.affinity;
    const h = $("inbound-history");
    h.innerHTML = "";
    m.last_calls.forEach((c) => {
      const li = document.createElement("li");
      li.textContent = (window.paleraWhen ? window.paleraWhen(c.at) : new Date(c.at).toLocaleString()) + " · " + (c.agent || "—") + " · " + (c.disposition || "no disposition") + (c.notes ? " · " + c.notes : "");
      h.appendChild(li);
    });
    if (!m.last_calls.length) h.innerHTML = '<li class="muted">No earlier calls.</li>';
    $("inbound-error").hidden = true;
    box.hidden = false;
    let left = m.ring_timeout_seconds;
    $("inbound-timer").textContent = "Rings for " + left + " s";
    clearInterval(timer);
    timer = setInterval(() => { left -= 1; $("inbound-timer").textContent = "Rings for " + Math.max(left, 0) + " s"; }, 1000);
    if (!document.title.startsWith("(Incoming)")) document.title = "(Incoming) " + document.title;
    $("inbound-accept").focus();
  }
  async function answer(accept) {
    if (!offer) return;
    const id = offer.call_id;
    const r = await post("/api/v1/calls/" + id + "/inbound/" + (accept ? "accept" : "decline"));
    if (r.ok) hide();
    else { $("inbound-error").textContent = reason(r.data, "The call is no longer yours."); $("inbound-error").hidden = false; }
  }
  $("inbound-accept").addEventListener("click", () => answer(true));
  $("inbound-decline").addEventListener("click", () => answer(false));
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || box.hidden) return;
    if (e.key === "a") { e.preventDefault(); answer(true); }
    if (e.key === "d") { e.preventDefault(); answer(false); }
  });
  document.addEventListener("palera:message", (e) => {
    const m = e.detail;
    if (m.type === "inbound_offer") show(m);
    else if (m.type === "inbound_withdrawn" && offer && offer.call_id === m.call_id) { hide(); loadTray(); }
    else if (m.type === "call_cleared") loadTray();
  });

  // ---- the tray -----------------------------------------------------------------------------
  async function loadTray() {
    const r = await fetch("/api/v1/me/inbound-tray", { credentials: "same-origin" });
    if (!r.ok) return;
    const items = await r.json();
    const ul = $("tray-list");
    ul.innerHTML = "";
    if (!items.length) { ul.innerHTML = '<li class="muted">None.</li>'; return; }
    items.forEach((t) => {
      const li = document.createElement("li");
      li.dataset.callId = t.call_id;
      const what = document.createElement("span");
      what.textContent = (t.outcome === "voicemail" ? "Voicemail" : "Missed") + " · " + t.name + " · " + (window.paleraWhen ? window.paleraWhen(t.at) : new Date(t.at).toLocaleTimeString()) + " ";
      const back = document.createElement("button");
      back.type = "button"; back.className = "tray-call"; back.textContent = "Call back";
      back.addEventListener("click", async () => {
        const r = await post("/api/v1/me/manual-call", { number: t.phone, client_id: t.client_id });
        if (r.ok) { await post("/api/v1/calls/" + t.call_id + "/inbound/handled"); loadTray(); }
        else { what.textContent += "— " + reason(r.data, "not called"); }
      });
      const done = document.createElement("button");
      done.type = "button"; done.className = "link tray-done"; done.textContent = "Done";
      done.addEventListener("click", async () => { await post("/api/v1/calls/" + t.call_id + "/inbound/handled"); loadTray(); });
      li.append(what, back, " ", done);
      ul.appendChild(li);
    });
  }
  loadTray();
  setInterval(loadTray, 30000);
})();
