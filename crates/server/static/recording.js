// Recordings in the browser. On a recording page: the transcript line being played is
// highlighted, and clicking a line (or Enter on it) plays from its start. On the agent desktop:
// the call's live transcript lines are shown as they arrive (in order), and the agent pauses
// and resumes the call's recording.
(function () {
  "use strict";
  // Each recorded call on the page: its player and the transcript beside it.
  document.querySelectorAll(".recording-view").forEach((view) => {
    const player = view.querySelector("audio.player");
    const lines = Array.from(view.querySelectorAll(".transcript li[data-start]"));
    if (!player || !lines.length) return;
    const seek = (li) => { player.currentTime = Number(li.dataset.start); player.play().catch(() => {}); };
    lines.forEach((li) => {
      li.addEventListener("click", () => seek(li));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(li); });
    });
    player.addEventListener("timeupdate", () => {
      const t = player.currentTime;
      let current = null;
      lines.forEach((li) => { if (Number(li.dataset.start) <= t + 0.01) current = li; });
      lines.forEach((li) => {
        const on = li === current && t <= Number(li.dataset.end) + 0.75;
        li.classList.toggle("current", on);
        if (on) li.setAttribute("aria-current", "true"); else li.removeAttribute("aria-current");
      });
    });
  });

  const live = document.getElementById("live-transcript");
  if (!live) return;
  const list = document.getElementById("live-lines");
  const pauseBtn = document.getElementById("recording-pause");
  const note = document.getElementById("live-note");
  let callId = null, paused = false;
  const mmss = (ms) => { const s = Math.floor(ms / 1000); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); };
  function reset(id) {
    callId = id; paused = false;
    list.textContent = "";
    pauseBtn.textContent = "Pause recording";
    pauseBtn.setAttribute("aria-pressed", "false");
    pauseBtn.hidden = id === null;
    note.textContent = id === null ? "The live transcript of your call shows here." : "";
  }
  document.addEventListener("palera:message", (ev) => {
    const m = ev.detail;
    if (m.type === "call_connected" || m.type === "inbound_call" || m.type === "manual_call") {
      if (m.call_id !== callId) reset(m.call_id);
    } else if (m.type === "call_cleared") {
      reset(null);
    } else if (m.type === "transcript_line" && m.call_id === callId) {
      const li = document.createElement("li");
      li.className = "speaker-" + m.line.speaker;
      li.dataset.seq = m.line.seq;
      const t = document.createElement("time"); t.textContent = mmss(m.line.end_ms);
      const who = document.createElement("strong"); who.textContent = m.line.speaker;
      li.append(t, " ", who, " ", m.line.text);
      list.append(li);
      list.scrollTop = list.scrollHeight;
    } else if (m.type === "recording_paused" && m.call_id === callId) {
      paused = m.paused;
      pauseBtn.textContent = paused ? "Resume recording" : "Pause recording";
      pauseBtn.setAttribute("aria-pressed", String(paused));
    }
  });
  pauseBtn.addEventListener("click", async () => {
    if (callId === null) return;
    const r = await window.paleraDom.api("POST", "/api/v1/calls/" + callId + "/recording/" + (paused ? "resume" : "pause"));
    note.textContent = r.ok ? "" : window.paleraDom.reason(r.data, "The recording could not be paused.");
  });
  reset(null);
})();
