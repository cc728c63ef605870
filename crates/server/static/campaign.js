// The campaign page's audio uploads: each file input PUTs its file to the campaign's audio URL
// and reloads the page on success, or shows the server's reason.
(function () {
  "use strict";
  document.querySelectorAll("[data-upload]").forEach(function (input) {
    input.addEventListener("change", async function () {
      const f = input.files[0]; if (!f) return;
      const s = document.getElementById("upload-status");
      const r = await fetch(input.dataset.upload, { method: "PUT", headers: { "Content-Type": f.type || "audio/mpeg" }, body: f });
      if (r.ok) { location.reload(); } else { const b = await r.json().catch(() => ({})); s.textContent = (b.error && b.error.message) || "Upload failed"; s.className = "wide error"; }
    });
  });
})();
