// The signed-in session on a shared tablet: warn before the idle sign-out, show a clear signed-out
// state, and never lose an entry silently. When a form is sent after the session ended (the
// server answers a background request with 401), what it carried is kept in this browser and
// sent again, with its own idempotency key (so it is stored once), as soon as the same user is
// signed in again. An entry kept for one user is never sent as another.
(function () {
  var body = document.body;
  var KEY = "ketaclinic.pending";
  var FLASH = "ketaclinic.flash";
  var user = body.dataset.user || "";
  var idleMs = (parseInt(body.dataset.idleMinutes || "0", 10) || 0) * 60000;
  var WARN_MS = 2 * 60000;
  var lastActive = Date.now();

  function csrf() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(list) {
    if (list.length) localStorage.setItem(KEY, JSON.stringify(list)); else localStorage.removeItem(KEY);
  }
  function notice(id, text, link) {
    var main = document.getElementById("main") || body;
    var box = document.getElementById(id);
    if (!box) {
      box = document.createElement("div");
      box.id = id;
      box.className = "session-notice";
      box.setAttribute("role", "alert");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text + " ";
    if (link) {
      var a = document.createElement(link.button ? "button" : "a");
      a.textContent = link.text;
      if (link.href) a.href = link.href;
      if (link.onclick) a.addEventListener("click", link.onclick);
      a.className = "button";
      box.appendChild(a);
    }
    return box;
  }
  function clear(id) {
    var box = document.getElementById(id);
    if (box) box.remove();
  }
  function loginUrl() {
    return (body.dataset.loginUrl || "/accounts/login/") + "?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // 1. A background request answered 401: signed out. Keep what a write carried.
  body.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    if (!xhr || xhr.status !== 401) return;
    var cfg = ev.detail.requestConfig || {};
    var kept = 0;
    if (cfg.verb && cfg.verb.toLowerCase() === "post" && user) {
      var fields = [];
      var data = cfg.formData || null;
      if (data && data.forEach) {
        data.forEach(function (value, name) {
          if (name !== "csrfmiddlewaretoken" && typeof value === "string") fields.push([name, value]);
        });
      }
      var list = load();
      list.push({ user: user, path: cfg.path, fields: fields, page: location.pathname, at: new Date().toISOString() });
      save(list);
      kept = 1;
    }
    signedOut(kept);
  });
  // A live stream ended by the server (signed out elsewhere, deactivated, the role removed).
  body.addEventListener("ketaclinic:stream-signed-out", function () {
    if (!body.dataset.signedOut) signedOut(0);
  });

  function signedOut(kept) {
    body.dataset.signedOut = "yes";
    body.dispatchEvent(new CustomEvent("ketaclinic:signed-out"));
    clear("idle-warning");
    notice(
      "signed-out",
      "You were signed out." + (kept ? " Your last entry is kept on this device and is sent when you sign in again as " + user + "." : ""),
      { text: "Sign in again", href: loginUrl() }
    );
  }

  // 2. Signed in again: send what was kept for this user, one at a time, then say so.
  function resend() {
    var list = load();
    var mine = list.filter(function (p) { return p.user === user; });
    if (!user || !mine.length) return;
    var others = list.filter(function (p) { return p.user !== user; });
    var sent = 0, problems = [];
    function next(i) {
      if (i >= mine.length) {
        save(others);
        var text = sent + " entr" + (sent === 1 ? "y" : "ies") + " kept while you were signed out " + (sent === 1 ? "was" : "were") + " sent.";
        if (problems.length) text += " Not sent (enter again): " + problems.join("; ");
        sessionStorage.setItem(FLASH, text);
        location.reload();
        return;
      }
      var p = mine[i], form = new FormData();
      p.fields.forEach(function (f) { form.append(f[0], f[1]); });
      fetch(p.path, { method: "POST", body: form, credentials: "same-origin",
                      headers: { "X-CSRFToken": csrf(), "HX-Request": "true" } })
        .then(function (r) {
          if (r.status === 401) { others.push(p); return null; }
          if (r.ok) { sent += 1; return null; }
          problems.push(p.fields.filter(function (f) { return f[0] !== "idempotency_key"; })
                         .map(function (f) { return f[0] + " " + f[1]; }).join(", "));
          return null;
        })
        .catch(function () { others.push(p); })
        .then(function () { next(i + 1); });
    }
    next(0);
  }
  var flash = sessionStorage.getItem(FLASH);
  if (flash) {
    sessionStorage.removeItem(FLASH);
    notice("resent", flash);
  }
  var waiting = load().filter(function (p) { return p.user && p.user !== user; });
  if (waiting.length && user) {
    notice("kept-for-others", waiting.length + " entr" + (waiting.length === 1 ? "y is" : "ies are") +
           " kept on this device for " + waiting.map(function (p) { return p.user; }).join(", ") +
           ": sign in as them to send " + (waiting.length === 1 ? "it" : "them") + ".");
  }
  resend();

  // 3. Warn before the idle sign-out; "Stay signed in" restarts the server's idle clock.
  if (!user || !idleMs) return;
  function active() {
    lastActive = Date.now();
    clear("idle-warning");
  }
  ["click", "keydown", "touchstart"].forEach(function (t) { document.addEventListener(t, active, true); });
  setInterval(function () {
    if (body.dataset.signedOut) return;
    var left = idleMs - (Date.now() - lastActive);
    if (left > WARN_MS || document.getElementById("idle-warning")) return;
    notice("idle-warning", "You will be signed out soon without activity.", {
      text: "Stay signed in", button: true,
      onclick: function (e) {
        e.preventDefault();
        fetch(body.dataset.keepaliveUrl, { credentials: "same-origin" }).then(function (r) {
          if (r.status === 204) active();
        });
      },
    });
  }, 10000);
})();

// Small behaviours the templates ask for with data attributes, since the Content-Security-Policy
// runs no inline script or handler: a Print button, a dialog's Close, a field selected on focus.
document.addEventListener("click", function (e) {
  var t = e.target.closest && e.target.closest("[data-print], [data-close-dialog]");
  if (!t) return;
  if (t.hasAttribute("data-print")) { window.print(); return; }
  var d = t.closest("dialog");
  if (d) d.close();
});
document.addEventListener("focusin", function (e) {
  if (e.target.hasAttribute && e.target.hasAttribute("data-select-on-focus")) e.target.select();
});
// A running total of the checked answers of a scale (data-sum-into: the output's id, data-sum-of:
// how many items), e.g. the 23 CADSS items.
document.addEventListener("input", function (e) {
  var box = e.target.closest && e.target.closest("[data-sum-into]");
  if (!box) return;
  var total = 0, n = 0, of = parseInt(box.dataset.sumOf, 10);
  box.querySelectorAll("input:checked").forEach(function (i) { total += +i.value; n++; });
  var out = document.getElementById(box.dataset.sumInto);
  if (out) out.textContent = total + (n < of ? " (" + n + " of " + of + " rated)" : "");
});
