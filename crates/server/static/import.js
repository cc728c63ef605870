// The import wizard and the DNC upload: files go to the JSON API as the raw request body, the
// column mapping preview comes from the first 64 KB, and the progress bar polls the job.
(function () {
  "use strict";
  function api(client, path) { return "/api/v1/clients/" + client + "/" + path; }
  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }
  async function errorText(r) {
    try { var b = await r.json(); return b.error ? b.error.message : r.statusText; } catch (e) { return r.statusText; }
  }

  var form = document.getElementById("import");
  if (form) {
    var client = form.dataset.client;
    var fileInput = form.elements.file;
    var start = document.getElementById("start");
    var selects = [];

    fileInput.addEventListener("change", async function () {
      var f = fileInput.files[0];
      start.disabled = true;
      if (!f) { return; }
      var r = await fetch(api(client, "imports/preview"), { method: "POST", body: f.slice(0, 65536) });
      if (!r.ok) { alert(await errorText(r)); return; }
      var p = await r.json();
      var table = document.getElementById("preview");
      table.innerHTML = "";
      var head = document.createElement("tr");
      var map = document.createElement("tr");
      var options = document.getElementById("targets").innerHTML;
      selects = [];
      p.headers.forEach(function (h, i) {
        head.appendChild(cell("th", h));
        var td = document.createElement("td");
        var s = document.createElement("select");
        s.innerHTML = options;
        s.value = p.targets[i];
        s.setAttribute("aria-label", "Column " + (i + 1) + " (" + h + ") feeds");
        td.appendChild(s);
        map.appendChild(td);
        selects.push(s);
      });
      table.appendChild(head);
      table.appendChild(map);
      p.sample.forEach(function (row) {
        var tr = document.createElement("tr");
        row.forEach(function (v) { tr.appendChild(cell("td", v)); });
        table.appendChild(tr);
      });
      var problem = document.getElementById("mapping-problem");
      problem.hidden = !p.problem;
      problem.textContent = p.problem || "";
      document.getElementById("mapping").hidden = false;
      start.disabled = false;
    });

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var f = fileInput.files[0];
      if (!f) { return; }
      start.disabled = true;
      var q = new URLSearchParams({
        list: form.elements.list.value,
        move_from_other_lists: form.elements.move_from_other_lists.checked,
        skip_dnc: form.elements.skip_dnc.checked,
        mapping: selects.map(function (s) { return s.value; }).join(",")
      });
      var r = await fetch(api(client, "imports?" + q), { method: "POST", body: f, headers: { "Content-Type": "text/csv" } });
      if (!r.ok) { alert(await errorText(r)); start.disabled = false; return; }
      var job = await r.json();
      document.getElementById("progress").hidden = false;
      poll(job.id);
    });

    async function poll(id) {
      var r = await fetch(api(client, "imports/" + id));
      var job = await r.json();
      var bar = document.getElementById("bar");
      var pct = job.total_bytes > 0 ? Math.min(100, Math.round(100 * job.processed_bytes / job.total_bytes)) : 0;
      bar.value = job.status === "done" ? 100 : pct;
      document.getElementById("status").textContent =
        job.status + " · " + job.counts.rows + " rows" + (job.error ? " · " + job.error : "");
      var s = document.getElementById("summary");
      s.innerHTML = "";
      ["rows", "imported", "updated", "moved_from_list", "duplicates_in_file", "on_dnc", "rejected"].forEach(function (k) {
        var tr = document.createElement("tr");
        tr.appendChild(cell("th", k.replace(/_/g, " ")));
        tr.appendChild(cell("td", job.counts[k]));
        s.appendChild(tr);
      });
      if (job.status === "done" || job.status === "failed") {
        var rr = await fetch(api(client, "imports/" + id + "/rejections"));
        var body = document.querySelector("#rejections tbody");
        body.innerHTML = "";
        (await rr.json()).forEach(function (x) {
          var tr = document.createElement("tr");
          tr.appendChild(cell("td", x.line));
          tr.appendChild(cell("td", x.reason));
          body.appendChild(tr);
        });
        var wr = await fetch(api(client, "imports/" + id + "/warnings"));
        var wbody = document.querySelector("#warnings tbody");
        wbody.innerHTML = "";
        (wr.ok ? await wr.json() : []).forEach(function (x) {
          var tr = document.createElement("tr");
          tr.appendChild(cell("td", x.line));
          tr.appendChild(cell("td", x.field.replace(/_/g, " ")));
          tr.appendChild(cell("td", x.reason));
          wbody.appendChild(tr);
        });
        document.getElementById("problems-csv").href = api(client, "imports/" + id + "/problems.csv");
        document.getElementById("problems").hidden = false;
        start.disabled = false;
        return;
      }
      setTimeout(function () { poll(id); }, 400);
    }
  }

  var dnc = document.getElementById("dnc-upload");
  if (dnc) {
    dnc.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var f = dnc.elements.file.files[0];
      if (!f) { return; }
      var r = await fetch(api(dnc.dataset.client, "dnc/import"), { method: "POST", body: f, headers: { "Content-Type": "text/csv" } });
      var out = document.getElementById("dnc-result");
      if (!r.ok) { out.textContent = await errorText(r); return; }
      var b = await r.json();
      out.textContent = "Added " + b.added + ", already listed " + b.already_listed + ", rejected " + b.rejected.length +
        (b.rejected.length ? " (first: line " + b.rejected[0].line + ": " + b.rejected[0].reason + ")" : "") + ". Reload to see them.";
    });
  }
})();
