// A supervisor watches a call: the transcript so far comes from the watch API (which also puts
// the supervisor on the call's watchers), then each new line arrives on the desktop channel.
(function () {
  "use strict";
  var list = document.getElementById("watch-lines");
  if (!list) return;
  var client = list.dataset.client, call = Number(list.dataset.call);
  var status = document.getElementById("watch-status");
  var seen = {};
  function speaker(s) { return s === "agent" ? "Agent" : "Contact"; }
  function add(line) {
    if (seen[line.seq]) return;
    seen[line.seq] = true;
    var li = document.createElement("li");
    li.dataset.seq = line.seq;
    li.className = "line " + line.speaker;
    var who = document.createElement("strong");
    who.textContent = speaker(line.speaker) + ": ";
    li.appendChild(who);
    li.appendChild(document.createTextNode(line.text));
    // Lines arrive in order; a late one still goes in its place.
    var after = Array.prototype.find.call(list.children, function (x) { return Number(x.dataset.seq) > line.seq; });
    list.insertBefore(li, after || null);
  }
  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(proto + "//" + location.host + "/ws/desktop");
    ws.onopen = function () { status.textContent = "Live: new lines appear as they are spoken."; };
    ws.onmessage = function (e) {
      var m = JSON.parse(e.data);
      if (m.type === "transcript_line" && m.call_id === call) { add(m.line); }
    };
    ws.onclose = function () { status.textContent = "Reconnecting…"; setTimeout(connect, 1000); };
  }
  fetch("/api/v1/clients/" + client + "/calls/" + call + "/watch", { method: "POST" })
    .then(function (r) { if (!r.ok) { throw new Error(r.statusText); } return r.json(); })
    .then(function (lines) { lines.forEach(add); connect(); })
    .catch(function (e) { status.textContent = "This call cannot be watched: " + e.message; });
})();
