// ketacare staff pages: the little JavaScript they use. Every page works without it; it only
// (1) refreshes regions marked data-refresh-seconds by fetching the page again and swapping them in,
// saying so to screen readers, and saying when the connection is lost;
// (2) keeps a vital-sign form's time at "now" in the clinic's time zone until someone edits it;
// (3) moves focus to an error summary when a form comes back refused;
// (5) keeps a running total on rating-scale forms whose total is the sum of their items;
// (6) shows the Print buttons of printable records (hidden without JavaScript, where the browser's own
// Print does the same) and prints when one is pressed;
// (4) follows the live feed of session changes (server-sent events, ids only) on pages marked
// data-live-changes, and on a change of the session shown (or any, on the worklist) reads the page
// again and swaps in the regions named in data-live-regions, except one being typed in;
// (6) keeps what was typed into a form whose post bounced to the sign-in page (see keepUnsentForms).
"use strict";
(function () {
  function clinicNow(timeZone) {
    try {
      // sv-SE writes "2026-12-04 18:47", the shape datetime-local wants (with a T).
      var text = new Intl.DateTimeFormat("sv-SE", {
        timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).format(new Date());
      return text.replace(" ", "T");
    } catch (error) {
      return null;
    }
  }

  function keepTimeAtNow(form) {
    var field = form.querySelector("[data-defaults-to-now]");
    if (!field) return;
    var zone = form.getAttribute("data-clinic-time-zone") || "UTC";
    var edited = false;
    field.addEventListener("input", function () { edited = true; });
    function update() {
      if (edited) return;
      var now = clinicNow(zone);
      if (now) field.value = now;
    }
    form.addEventListener("focusin", update);
    form.addEventListener("submit", update);
  }

  function refreshRegion(region) {
    var seconds = parseInt(region.getAttribute("data-refresh-seconds"), 10);
    if (!(seconds > 0) || !region.id) return;
    var announcer = document.querySelector("[data-refresh-announcer]");
    var stamp = document.querySelector("[data-refreshed-at]");
    function poll() {
      if (document.visibilityState === "hidden" || region.contains(document.activeElement)) return;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.redirected || !response.ok) {
            // Signed out or the page is gone: a full load shows the sign-in page or the error.
            window.location.reload();
            return null;
          }
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var replacement = fresh.getElementById(region.id);
          if (replacement && replacement.innerHTML !== region.innerHTML) {
            region.innerHTML = replacement.innerHTML;
            if (announcer) announcer.textContent = "The list was updated.";
          }
          var freshStamp = fresh.querySelector("[data-refreshed-at]");
          if (stamp && freshStamp) stamp.textContent = freshStamp.textContent;
        })
        .catch(function () {
          if (stamp) stamp.textContent = "Connection lost; retrying";
        });
    }
    window.setInterval(poll, seconds * 1000);
  }

  // Reads the page again and swaps in the regions with these ids; a region holding the focus (someone
  // is typing a note there) is left alone and tried again shortly.
  function swapRegions(regionIds, announce, status) {
    var inFlight = false, again = false;
    function refresh() {
      if (inFlight) { again = true; return; }
      inFlight = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.redirected || !response.ok) { window.location.reload(); return null; }
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var changed = false, skipped = false;
          regionIds.forEach(function (id) {
            var region = document.getElementById(id);
            var replacement = fresh.getElementById(id);
            if (!region || !replacement || replacement.innerHTML === region.innerHTML) return;
            if (region.contains(document.activeElement) && document.activeElement !== document.body) {
              skipped = true;
              return;
            }
            region.innerHTML = replacement.innerHTML;
            changed = true;
          });
          if (changed) announce(fresh);
          if (skipped) window.setTimeout(refresh, 2000);
        })
        .catch(function () { if (status) status.textContent = "Connection lost; retrying"; })
        .then(function () {
          inFlight = false;
          if (again) { again = false; refresh(); }
        });
    }
    return refresh;
  }

  function followLiveChanges(marker) {
    if (!window.EventSource) return;
    var sessionId = marker.getAttribute("data-live-session-id");
    var regionIds = (marker.getAttribute("data-live-regions") || "").split(" ").filter(Boolean);
    var status = document.querySelector("[data-live-status]");
    var announcer = document.querySelector("[data-refresh-announcer]");
    var stamp = document.querySelector("[data-refreshed-at]");
    var refresh = swapRegions(regionIds, function (fresh) {
      var freshStamp = fresh.querySelector("[data-refreshed-at]");
      if (stamp && freshStamp) stamp.textContent = freshStamp.textContent;
      var summary = fresh.querySelector("[data-live-announcement]");
      if (announcer) announcer.textContent = summary ? summary.textContent : "The page was updated.";
    }, status);
    // One stream per visible page: a browser holds at most six connections to a server, so a page in a
    // background tab closes its stream and, back in view, opens it again and reads itself once.
    var source = null, opened = false;
    function connect() {
      var current = new EventSource(marker.getAttribute("data-live-changes"));
      source = current;
      current.addEventListener("open", function () {
        // After a reconnection, notices may have been missed: read the page again once.
        if (opened) refresh();
        opened = true;
        if (status) status.textContent = "Live: changes from other screens appear here.";
      });
      current.addEventListener("session", function (event) {
        var change;
        try { change = JSON.parse(event.data); } catch (error) { return; }
        if (!sessionId || change.session_id === sessionId) refresh();
      });
      current.addEventListener("missed", refresh);
      current.addEventListener("error", function () {
        if (!status || current !== source) return;
        status.textContent = current.readyState === EventSource.CLOSED
          ? "Live updates stopped: reload the page to see changes."
          : "Live connection lost; reconnecting.";
      });
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden" && source) {
        source.close();
        source = null;
      }
    });
    // Back in view (whether or not the browser said so with an event): connect again.
    window.setInterval(function () {
      if (!source && document.visibilityState !== "hidden") connect();
    }, 1000);
    connect();
  }

  // A running total for a rating scale whose total is the sum of its items (the saved total is the
  // server's, which also prorates or refuses missing items).
  function keepRunningTotal(form) {
    var output = form.querySelector("[data-running-total]");
    if (!output) return;
    var max = output.getAttribute("data-max-total");
    function update() {
      var total = 0, answered = 0;
      var groups = form.querySelectorAll("fieldset.scale-item");
      Array.prototype.forEach.call(groups, function (group) {
        var checked = group.querySelector("input[type=radio]:checked");
        if (checked) { total += parseInt(checked.value, 10) || 0; answered += 1; }
      });
      output.textContent = "Total so far: " + total + " of " + max + " (" + answered + " of " + groups.length + " items answered).";
    }
    form.addEventListener("change", update);
    update();
  }

  // (6) A form posted after the session expired comes back as the sign-in page (marked data-unsent-form),
  // which returns to the form's page once signed in. So each post saves its fields in this tab's
  // sessionStorage (never a password or hidden field; no form holding a password at all); the sign-in
  // page marks the saved form as bounced; its page, open again, gets the values back. Any other page
  // after a post means the post arrived, and the saved values are dropped.
  var UNSENT_KEY = "ketacare.unsent-form";
  var SKIPPED_TYPES = ["hidden", "password", "submit", "button", "reset", "file", "image"];

  function storedUnsent() {
    try { return JSON.parse(window.sessionStorage.getItem(UNSENT_KEY) || "null"); } catch (error) { return null; }
  }
  function storeUnsent(unsent) {
    try {
      if (unsent) window.sessionStorage.setItem(UNSENT_KEY, JSON.stringify(unsent));
      else window.sessionStorage.removeItem(UNSENT_KEY);
    } catch (error) { /* storage off: nothing is kept */ }
  }
  function formsLike(action) {
    return Array.prototype.filter.call(document.forms, function (form) { return form.getAttribute("action") === action; });
  }
  function saveUnsent(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.querySelector("input[type=password]")) return;
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled || SKIPPED_TYPES.indexOf(field.type) >= 0) return;
      if (field.type === "checkbox" || field.type === "radio") {
        fields.push({ name: field.name, value: field.value, checked: field.checked });
      } else {
        fields.push({ name: field.name, value: field.value });
      }
    });
    if (!fields.length) { storeUnsent(null); return; }
    var action = form.getAttribute("action");
    storeUnsent({ page: window.location.pathname + window.location.search, action: action,
      index: formsLike(action).indexOf(form), fields: fields, bounced: false });
  }
  function restoreUnsent(unsent) {
    var form = formsLike(unsent.action)[unsent.index];
    if (!form) return;
    var seen = {}, first = null;
    unsent.fields.forEach(function (saved) {
      var named = Array.prototype.filter.call(form.elements, function (field) { return field.name === saved.name; });
      var field;
      if (saved.checked !== undefined) {
        field = named.filter(function (candidate) { return candidate.value === saved.value; })[0];
        if (field) field.checked = saved.checked;
      } else {
        seen[saved.name] = (seen[saved.name] || 0) + 1;
        field = named[seen[saved.name] - 1];
        if (field) field.value = saved.value;
      }
      // Scripts watching the field (running totals, the time kept at now) see it as typed.
      if (!field) return;
      ["input", "change"].forEach(function (type) { field.dispatchEvent(new Event(type, { bubbles: true })); });
      if (!first && saved.checked === undefined) first = field;
    });
    var details = form.closest("details");
    if (details) details.open = true;
    var notice = document.createElement("div");
    notice.className = "notice";
    notice.setAttribute("role", "status");
    notice.setAttribute("data-restored-form", "");
    notice.textContent = "What you typed before signing in again has been filled in. Check it and send the form again.";
    form.parentNode.insertBefore(notice, form);
    notice.scrollIntoView({ block: "center" });
    if (first) first.focus({ preventScroll: true });
  }
  function keepUnsentForms() {
    document.addEventListener("submit", saveUnsent);
    var unsent = storedUnsent();
    if (!unsent) return;
    if (document.querySelector("[data-unsent-form]")) {
      unsent.bounced = true;
      storeUnsent(unsent);
      var kept = document.querySelector("[data-kept-typing]");
      if (kept) kept.hidden = false;
    } else if (document.querySelector("[data-signed-out]") || !unsent.bounced) {
      storeUnsent(null);
    } else if (unsent.page === window.location.pathname + window.location.search) {
      storeUnsent(null);
      restoreUnsent(unsent);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-sum-items]"), keepRunningTotal);
    Array.prototype.forEach.call(document.querySelectorAll("[data-live-changes]"), followLiveChanges);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-clinic-time-zone]"), keepTimeAtNow);
    Array.prototype.forEach.call(document.querySelectorAll("[data-refresh-seconds]"), refreshRegion);
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) summary.focus();
    keepUnsentForms();
  });
})();
