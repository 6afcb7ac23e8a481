// Live updates over Server-Sent Events. EventSource reconnects by itself and sends Last-Event-ID;
// if the server answered an error (it was down), the browser gives up, so we reopen it ourselves
// from the last id seen. On each event the page asks the server for fresh fragments.
(function () {
  var root = document.getElementById("live");
  if (!root) return;
  var url = root.dataset.stream, last = root.dataset.lastEventId || "0", es = null, timer = null;
  // The fragment a live refresh replaces: the chair view's panels, or the floor board.
  var box = document.getElementById("panels") || document.getElementById("floor");

  // A live refresh replaces every form of the fragment. It must not lose what the nurse is doing:
  // - while she is in a field, or one of her forms is being sent (its answer is about to show her
  //   the result), it waits, at most WAIT_MS so an alert is not held back for long;
  // - values typed and not yet sent, and the sections she opened, are put back;
  // - the answer to her last action stays: a refusal ("Refused: ...") and a form sent back with
  //   its errors and typed values are carried over until her next action answers.
  // The form just sent is the exception to all three: its answer replaces it.
  var WAIT_MS = 5000, waitingSince = 0, kept = null, sending = {};
  var ANSWER = "data-answer";  // marks what a form's answer added: error messages

  // A press on the fragment (a finger or the mouse going down on a button) holds a live refresh for
  // a moment: swapping the form between the press and the click would lose the tap. So does the
  // mouse arriving on a control: a swap that moves the buttons just before the press sends the
  // click to whatever took the button's place.
  var pressedAt = 0, PRESS_MS = 1000;
  if (box) {
    box.addEventListener("pointerdown", function () { pressedAt = Date.now(); }, true);
    box.addEventListener("pointerover", function (e) {
      if (e.target.closest && e.target.closest("button, a, input, select, label")) pressedAt = Date.now();
    }, true);
  }
  function typing() {
    if (Date.now() - pressedAt < PRESS_MS) return true;
    var a = document.activeElement;
    return !!(a && box && box.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName) &&
              !/^(hidden|radio|checkbox|submit|button)$/.test(a.type));
  }
  function formKey(f) {
    // The same form in the old and the new fragment (every element is new after a swap): its
    // label, else its action and fields, with the values of its fixed hidden fields ("kind", "to").
    if (!f) return "";
    if (f.getAttribute("aria-label")) return "form:" + f.getAttribute("aria-label");
    var names = Array.prototype.map.call(f.elements, function (el) {
      var fixed = el.type === "hidden" && !/^(csrfmiddlewaretoken|idempotency_key)$/.test(el.name);
      return fixed ? el.name + "=" + el.value : el.name;
    });
    return "form:" + (f.getAttribute("action") || "") + "|" + names.join(",");
  }
  function nodeKey(el) {
    // An element that has its counterpart in the new fragment: by id, form, or accessible name.
    if (el.id) return "#" + el.id;
    if (el.tagName === "FORM") return formKey(el);
    if (el.getAttribute("aria-label")) return "label:" + el.getAttribute("aria-label");
    return "";
  }
  function findKey(key) {
    var all = box.querySelectorAll("[id], form, [aria-label]");
    for (var i = 0; i < all.length; i++) { if (nodeKey(all[i]) === key) return all[i]; }
    return null;
  }
  function fieldKey(el) {
    if (el.id) return "#" + el.id;
    return formKey(el.form) + "|" + el.name + "|" + (/^(radio|checkbox)$/.test(el.type) ? el.value : "");
  }
  function detailsKey(d) {
    var summary = d.querySelector("summary");
    // Without numbers, so "Dosing events (2)" is still the same section with 3.
    return "details|" + (d.id || (summary ? summary.textContent.replace(/[0-9]+/g, "").trim() : ""));
  }
  function changed(el) {
    if (!el.name || /^(hidden|submit|button)$/.test(el.type)) return false;
    if (/^(radio|checkbox)$/.test(el.type)) return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return el.value !== el.defaultValue;
  }
  function isSending() {
    for (var k in sending) { if (sending[k] > 0) return true; }
    return false;
  }
  function each(selector, fn) { Array.prototype.forEach.call(box.querySelectorAll(selector), fn); }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (!box || elt === box || !box.contains(elt)) return;
    var k = formKey(elt.closest("form"));
    sending[k] = (sending[k] || 0) + 1;
    // htmx names the target, not the form, in the swap events: the request carries the form.
    e.detail.xhr.liveFormKey = k;
    // loadend comes after htmx has handled the answer, and also when the form is gone by then.
    e.detail.xhr.addEventListener("loadend", function () { sending[k] -= 1; });
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!box || e.detail.target !== box) return;
    // A refresh is the box's own request; an answer is a form's (see htmx:beforeRequest).
    var sent = (e.detail.xhr && e.detail.xhr.liveFormKey) || "", live = !sent, now = Date.now();
    if (live && (typing() || isSending())) {
      if (!waitingSince) waitingSince = now;
      if (now - waitingSince < WAIT_MS) {
        e.detail.shouldSwap = false;
        clearTimeout(timer);
        timer = setTimeout(refresh, 700);
        return;
      }
    }
    if (live) waitingSince = 0;
    function mine(f) { var k = formKey(f); return !!f && (k === sent || sending[k] > 0); }
    var a = document.activeElement;
    kept = {live: live, values: {}, open: {}, forms: {}, errors: [], plain: {},
            focus: a && box.contains(a) && a.id ? a.id : ""};
    each("input, select, textarea", function (el) {
      if (!mine(el.form) && changed(el)) kept.values[fieldKey(el)] = /^(radio|checkbox)$/.test(el.type) ? el.checked : el.value;
    });
    each("details", function (d) {
      // Around a sent form, its answer decides: open on an error to correct, closed once saved.
      if (!Array.prototype.some.call(d.querySelectorAll("form"), mine)) kept.open[detailsKey(d)] = d.open;
    });
    if (live) {
      each("[" + ANSWER + "]", function (node) {
        var form = node.closest("form");
        if (form && box.contains(form)) {
          if (!mine(form)) kept.forms[formKey(form)] = form;
          return;
        }
        var parent = node.parentElement, key = parent === box ? "" : nodeKey(parent);
        if (key) kept.errors.push({key: key, index: Array.prototype.indexOf.call(parent.children, node), node: node});
      });
    } else {
      // Messages every page shows (no order yet, ...) are not the answer's.
      each(".error", function (node) { if (!node.hasAttribute(ANSWER)) kept.plain[node.textContent] = true; });
    }
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (!kept || e.detail.target !== box) return;
    var k = kept;
    kept = null;
    each("details", function (d) { var key = detailsKey(d); if (key in k.open) d.open = k.open[key]; });
    each("input, select, textarea", function (el) {
      var key = fieldKey(el);
      if (!(key in k.values)) return;
      if (/^(radio|checkbox)$/.test(el.type)) el.checked = k.values[key];
      else el.value = k.values[key];  // also puts the caret back at the end of a refocused field
    });
    if (!k.live) {
      each(".error", function (node) { if (!k.plain[node.textContent]) node.setAttribute(ANSWER, ""); });
      return;
    }
    Object.keys(k.forms).forEach(function (key) {
      var now = findKey(key);
      if (now) now.replaceWith(k.forms[key]);
    });
    k.errors.forEach(function (err) {
      var parent = findKey(err.key);
      if (!parent) return;  // the section is gone (the alert was acknowledged elsewhere, ...)
      var shown = Array.prototype.some.call(parent.children, function (c) { return c.textContent === err.node.textContent; });
      if (!shown) parent.insertBefore(err.node, parent.children[err.index] || null);
    });
    if (k.focus && document.activeElement && document.activeElement.id !== k.focus) {
      var f = document.getElementById(k.focus);
      if (f) f.focus();
    }
  });

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      document.dispatchEvent(new CustomEvent("live:refresh"));
    }, 50);
  }
  function open() {
    es = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + last);
    ["state", "observation", "alert", "alert_ack", "alert_escalated", "dose", "session", "message"].forEach(function (t) {
      es.addEventListener(t, function (e) { if (e.lastEventId) last = e.lastEventId; root.dataset.lastEventId = last; refresh(); });
    });
    // The server ends the stream when this user may no longer read it (accounts.access.stream_guard).
    es.addEventListener("signed-out", function () {
      es.close();
      document.body.dispatchEvent(new CustomEvent("ketaclinic:stream-signed-out"));
    });
    es.onopen = function () { root.dataset.connected = "yes"; document.getElementById("live-status").textContent = "live"; };
    es.onerror = function () {
      document.getElementById("live-status").textContent = "reconnecting…";
      root.dataset.connected = "no";
      if (es.readyState === EventSource.CLOSED) { setTimeout(open, 2000); }
    };
  }
  // Signed out (static/ketaclinic/session.js saw a 401): the page stops saying "live".
  document.body.addEventListener("ketaclinic:signed-out", function () {
    if (es) es.close();
    es = { close: function () {} };
    open = function () {};
    var status = document.getElementById("live-status");
    status.textContent = "signed out";
    status.classList.add("signed-out");
  });
  open();
})();
