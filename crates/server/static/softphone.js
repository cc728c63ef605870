// The desktop's phone panel (templates/softphone.html). It follows the server's desktop messages
// (desktop.js re-dispatches each as a "palera:message" event) to show the call's audio: ringing,
// connected, on hold, the dropped voicemail message playing, ended; and offers voicemail drop
// (Alt+V). In Twilio mode it also runs the Twilio Voice SDK: one Device per client, registered
// with the tokens desktop.js keeps fresh (window.paleraVoiceTokens, "palera:voice-token"),
// answering the agent legs the server bridges in, with mute (Alt+M) and the SDK's errors shown.
(function () {
  "use strict";
  const root = document.getElementById("softphone");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const audioEl = $("softphone-audio"), lineEl = $("softphone-line"), dropEl = $("softphone-drop");
  const errEl = $("softphone-error"), deviceEl = $("softphone-device");
  const dropBtn = $("softphone-voicemail"), muteBtn = $("softphone-mute");
  const labels = {
    idle: "No call", ringing: "Ringing", connected: "Connected", on_hold: "On hold",
    message_playing: "Message playing", ended: "Ended",
  };
  let callId = null, who = "", audio = "idle", manual = false;
  const dropped = {}; // call id -> contact, while their voicemail message plays

  function setAudio(state, line) {
    audio = state;
    audioEl.dataset.audio = state;
    audioEl.textContent = labels[state];
    audioEl.className = "pill audio-" + state;
    if (line !== undefined) lineEl.textContent = line;
    // A manual call has no campaign voicemail message to drop.
    dropBtn.hidden = !(state === "connected" || state === "on_hold") || manual;
  }
  function showError(text) {
    errEl.textContent = text;
    errEl.hidden = false;
  }

  function onMessage(m) {
    if (m.type === "call_offered" && !m.preview) {
      callId = m.call_id;
      manual = false;
      who = (m.contact && (m.contact.name || m.contact.phone)) || "the contact";
      root.dataset.phone = (m.contact && m.contact.phone) || "";
      setAudio("ringing", "Calling " + who + "…");
    } else if (m.type === "manual_call") {
      callId = m.call_id;
      manual = true;
      who = m.name || m.phone || "the contact";
      root.dataset.phone = m.phone || "";
      setAudio("ringing", "Calling " + who + "…");
    } else if (m.type === "call_connected") {
      if (m.call_id !== callId) manual = false; // a predictive call, offered only now
      callId = m.call_id;
      // A predictive call has no offer before it: the connection names the contact.
      if (m.contact) who = m.contact.name || m.contact.phone || who;
      if (!who) who = "the contact";
      setAudio("connected", "Talking with " + who + ".");
    } else if (m.type === "call_hold" && m.call_id === callId) {
      setAudio(m.on_hold ? "on_hold" : "connected",
        m.on_hold ? who + " is on hold." : "Talking with " + who + ".");
    } else if (m.type === "call_ended" && m.call_id === callId) {
      setAudio("ended", "The call ended.");
    } else if (m.type === "call_audio") {
      onDropped(m.call_id, m.audio);
    } else if (m.type === "call_cleared") {
      // A dropped call stays on the phone until its message has played.
      if (!(audio === "message_playing" && m.call_id === callId)) {
        callId = null;
        who = "";
        delete root.dataset.phone;
        setAudio("idle", "");
      }
    }
  }

  function onDropped(id, state) {
    if (state === "message_playing") {
      dropped[id] = who;
      dropEl.textContent = "Voicemail message playing to " + who + "…";
      if (id === callId) setAudio("message_playing", "You are free for the next call; the message plays to its end.");
    } else if (state === "ended") {
      dropEl.textContent = "Voicemail message played to " + (dropped[id] || "the contact") + " to its end; the call ended.";
      delete dropped[id];
      if (id === callId) setAudio("ended", "The call ended.");
    }
    dropEl.hidden = false;
  }
  document.addEventListener("palera:message", (e) => onMessage(e.detail));

  async function dropVoicemail() {
    if (dropBtn.hidden || callId === null) return;
    dropBtn.disabled = true;
    try {
      const r = await fetch("/api/v1/calls/" + callId + "/voicemail-drop", { method: "POST" });
      if (!r.ok) {
        const b = await r.json().catch(() => ({}));
        showError((b.error && b.error.message) || "Voicemail drop failed (" + r.status + ").");
      } else {
        errEl.hidden = true;
      }
    } finally {
      dropBtn.disabled = false;
    }
  }
  dropBtn.addEventListener("click", dropVoicemail);

  // Twilio mode: the Voice SDK.
  let current = null; // the agent leg on the line
  function setMuted(on) {
    muteBtn.setAttribute("aria-pressed", String(on));
    muteBtn.firstChild.textContent = on ? "Unmute " : "Mute ";
  }
  function toggleMute() {
    if (!current || muteBtn.hidden) return;
    current.mute(!current.isMuted());
  }
  muteBtn.addEventListener("click", toggleMute);
  document.addEventListener("keydown", (e) => {
    if (!e.altKey) return;
    if (e.key === "v") { e.preventDefault(); dropVoicemail(); }
    if (e.key === "m") { e.preventDefault(); toggleMute(); }
  });

  function answer(call) {
    current = call;
    call.on("accept", () => { muteBtn.hidden = false; setMuted(call.isMuted()); deviceEl.textContent = "Headset connected."; });
    call.on("mute", (on) => setMuted(on));
    const gone = () => { if (current === call) { current = null; muteBtn.hidden = true; setMuted(false); deviceEl.textContent = "Softphone ready."; } };
    call.on("disconnect", gone);
    call.on("cancel", gone);
    call.on("reject", gone);
    call.on("error", (err) => showError("Call audio error: " + describe(err)));
    call.accept();
  }
  function describe(err) {
    if (!err) return "unknown error";
    return (err.code ? err.code + " " : "") + (err.message || String(err));
  }

  const devices = {};
  function device(clientId, token) {
    const known = devices[clientId];
    if (known) { known.updateToken(token.token); return; }
    const d = new window.Twilio.Device(token.token, { closeProtection: true });
    devices[clientId] = d;
    d.on("registered", () => { root.dataset.device = "registered"; deviceEl.textContent = "Softphone ready."; });
    d.on("unregistered", () => { root.dataset.device = "unregistered"; deviceEl.textContent = "Softphone offline."; });
    d.on("error", (err) => showError("Softphone error: " + describe(err)));
    d.on("incoming", answer);
    deviceEl.textContent = "Registering the softphone…";
    Promise.resolve(d.register()).catch((err) => showError("The softphone could not register: " + describe(err)));
  }

  // The SDK did not define Twilio.Device: say why, checking the file's hash when the browser can.
  async function explainMissingSdk(script) {
    root.dataset.sdk = "blocked";
    const want = script.getAttribute("integrity") || "";
    let text = "The Twilio Voice SDK did not load from " + script.src + ". ";
    try {
      const r = await fetch(script.src, { mode: "cors", credentials: "omit", cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const alg = (want.split("-")[0] || "sha384").toLowerCase();
      if (!window.crypto || !crypto.subtle) throw new Error("cannot check its hash here");
      const digest = new Uint8Array(await crypto.subtle.digest(alg.replace("sha", "SHA-"), await r.arrayBuffer()));
      const got = alg + "-" + btoa(String.fromCharCode.apply(null, digest));
      text += want.split(/\s+/).includes(got)
        ? "The file matches its hash but does not define Twilio.Device."
        : "Its integrity hash does not match PALERA_VOICE_SDK_INTEGRITY, so the browser refused to run it (the file's hash is " + got + ").";
    } catch (e) {
      text += "It failed its integrity check or could not be fetched (" + e.message + ").";
    }
    showError(text);
  }

  if (root.dataset.mode === "simulated") {
    deviceEl.textContent = "Simulated softphone ready.";
  } else if (root.dataset.mode === "twilio") {
    const script = $("twilio-sdk");
    if (!script) return; // not configured: the server's message is shown
    if (!window.Twilio || !window.Twilio.Device) { explainMissingSdk(script); return; }
    root.dataset.sdk = "loaded";
    document.addEventListener("palera:voice-token", (e) => device(e.detail.clientId, e.detail.token));
    Object.keys(window.paleraVoiceTokens || {}).forEach((id) => device(id, window.paleraVoiceTokens[id]));
  }
})();
