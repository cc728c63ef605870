// The wallboard follows server-sent events: each `wallboard` event carries the whole board,
// and the tables are redrawn from it. No polling.
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  if (!root || !window.EventSource) return;
  var live = document.getElementById("wallboard-live");
  var client = root.getAttribute("data-client-id");
  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function row(cells, attr, id) {
    var tr = document.createElement("tr");
    tr.setAttribute(attr, id);
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }
  function draw(board) {
    var agents = document.querySelector("#wallboard-agents tbody");
    agents.replaceChildren.apply(agents, board.agents.map(function (a) {
      var call = a.call ? a.call.phone + " (" + a.call.outcome + ")" : "\u2014";
      var watch = cell("", "watch");
      if (a.call) {
        var link = document.createElement("a");
        link.href = "/clients/" + client + "/calls/" + a.call.id + "/watch";
        link.textContent = "Watch";
        watch.appendChild(link);
      }
      return row([cell(a.name), cell(a.state, "state"), cell(call, "call"), watch], "data-agent-id", a.id);
    }));
    var camps = document.querySelector("#wallboard-campaigns tbody");
    camps.replaceChildren.apply(camps, board.campaigns.map(function (k) {
      var t = k.today;
      return row([cell(k.name), cell(k.status), cell(t.dialled), cell(t.in_flight), cell(t.answered),
        cell(t.abandoned), cell(k.abandon_rate_pct), cell(k.abandon_cap_pct)], "data-campaign-id", k.id);
    }));
    var queues = document.querySelector("#wallboard-queues tbody");
    queues.replaceChildren.apply(queues, board.queues.map(function (q) {
      var o = q.today.outcomes || {};
      var longest = cell("", "longest");
      longest.setAttribute("data-since", q.waiting > 0 && q.longest_waiting_since ? q.longest_waiting_since : "");
      return row([cell(q.name), cell(q.waiting, "waiting"), longest, cell(q.today.calls), cell(q.today.answered),
        cell(o.missed || 0, "missed"), cell(o.voicemail || 0)], "data-queue", q.name);
    }));
    tick();
  }
  // The longest wait counts up between events, from the instant that caller rang.
  function tick() {
    document.querySelectorAll("#wallboard-queues td.longest").forEach(function (td) {
      var since = Number(td.getAttribute("data-since"));
      td.textContent = since ? Math.max(0, Math.floor((Date.now() - since) / 1000)) + " s" : "\u2014";
    });
  }
  setInterval(tick, 1000);
  var source = new EventSource("/api/v1/clients/" + client + "/wallboard/events");
  source.addEventListener("wallboard", function (e) {
    draw(JSON.parse(e.data));
    live.textContent = "live";
  });
  source.onerror = function () { live.textContent = "reconnecting\u2026"; };
})();
