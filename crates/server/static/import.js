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
        s.dataset.previous = s.value;
        s.addEventListener("change", function () { newProperty(s, td, h); });
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

    // "New property from this column": a small form under the column's menu creates the
    // property through the API, adds it to every column's menu and picks it for this one.
    function slug(text) {
      var s = text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
      if (!/^[a-z]/.test(s)) { s = "p_" + s; }
      return s.slice(0, 63);
    }
    function newProperty(select, td, header) {
      var open = td.querySelector(".new-property");
      if (select.value !== "new") {
        if (open) { open.remove(); }
        select.dataset.previous = select.value;
        return;
      }
      if (open) { return; }
      var box = document.createElement("div");
      box.className = "new-property";
      var name = document.createElement("input");
      name.value = slug(header);
      name.setAttribute("aria-label", "Name of the new property");
      var kind = document.createElement("select");
      kind.setAttribute("aria-label", "Type of the new property");
      [["text", "Text"], ["number", "Number"], ["boolean", "Yes / no"], ["date", "Date"], ["email", "E-mail address"], ["phone", "Phone number"]].forEach(function (k) {
        var o = document.createElement("option"); o.value = k[0]; o.textContent = k[1]; kind.appendChild(o);
      });
      var create = document.createElement("button");
      create.type = "button";
      create.textContent = "Create";
      var err = document.createElement("p");
      err.className = "error"; err.setAttribute("role", "alert"); err.hidden = true;
      create.addEventListener("click", async function () {
        var body = { name: name.value.trim(), label: header, kind: kind.value };
        var r = await fetch(api(client, "properties"), { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        if (!r.ok) { err.textContent = await errorText(r); err.hidden = false; name.focus(); return; }
        var value = "properties." + body.name;
        selects.forEach(function (s) {
          if (!Array.prototype.some.call(s.options, function (o) { return o.value === value; })) {
            var o = document.createElement("option");
            o.value = value; o.textContent = header + " (" + body.kind + ")";
            s.insertBefore(o, s.querySelector("option[value=new]"));
          }
        });
        select.value = value;
        select.dataset.previous = value;
        box.remove();
      });
      box.appendChild(name); box.appendChild(kind); box.appendChild(create); box.appendChild(err);
      td.appendChild(box);
      name.focus();
    }

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var pending = selects.findIndex(function (s) { return s.value === "new"; });
      if (pending >= 0) {
        var problem = document.getElementById("mapping-problem");
        problem.textContent = "Column " + (pending + 1) + ": create its new property first, or choose another field.";
        problem.hidden = false;
        selects[pending].focus();
        return;
      }
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
