// Small helpers the pages' scripts share: `el` builds an element (props, then children),
// `api` calls the JSON API with the session's cookie and answers {ok, status, data}, and
// `reason` is the message of an API error (or a fallback).
(function () {
  "use strict";
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
      else e[k] = v;
    });
    kids.forEach((k) => e.append(k));
    return e;
  };
  async function api(method, path, body) {
    const r = await fetch(path, {
      method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, data };
  }
  const reason = (d, f) => (d && d.error && d.error.message) || f;
  window.paleraDom = { el, api, reason };
})();
