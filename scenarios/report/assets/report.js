// Replay of a scenario timeline: a cursor over the drawing, the state of
// every lane at the cursor, and the narration of the current event.
(function () {
  "use strict";
  var M = JSON.parse(document.getElementById("model").textContent);
  var svg = document.getElementById("timeline");
  var ds = svg.dataset;
  var x0 = +ds.x0, x1 = +ds.x1, start = +ds.start, end = +ds.end;
  var cursor = document.getElementById("cursor");
  var clock = document.getElementById("clock");
  var playBtn = document.getElementById("play");
  var speedSel = document.getElementById("speed");
  var list = document.getElementById("events");
  var items = list.querySelectorAll("li");
  var narr = document.getElementById("narration");
  var state = document.getElementById("state");
  var events = M.Events || [];
  var t = start, playing = false, last = 0, current = -2, pinned = -1;

  function fmt(s) { return (s < 0 ? "−" : "") + Math.abs(s).toFixed(2) + " s"; }
  function xOf(tt) { return x0 + (tt - start) / (end - start) * (x1 - x0); }
  function esc(s) { var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }
  function spanAt(spans, tt) {
    if (!spans) return null;
    for (var i = 0; i < spans.length; i++) {
      if (spans[i].From <= tt && tt < spans[i].To) return spans[i];
    }
    var l = spans[spans.length - 1];
    return l && tt >= l.To && tt >= end ? l : null;
  }

  function showEvent(i) {
    var e = events[i];
    if (!e) { narr.innerHTML = '<div class="why">Press space to play. Click an event, a span or a marker to read what it means.</div>'; return; }
    narr.innerHTML = '<div class="when">' + fmt(e.T) + " · " + esc(e.Kind) + (e.Host ? " · " + esc(e.Host) : "") + "</div>" +
      '<div class="what">' + esc(e.Text) + "</div>" + (e.Narration ? '<div class="why">' + esc(e.Narration) + "</div>" : "");
  }

  function renderState() {
    var html = "", masters = [], live = 0, vips = [];
    (M.Balancers || []).forEach(function (b) {
      var parts = [];
      var frozen = (b.Conditions || []).some(function (c) { return c.State === "frozen" && c.From <= t && t < c.To; });
      (b.Instances || []).forEach(function (in_, k) {
        var s = spanAt(in_.Spans, t), st = s ? s.State : "DOWN";
        // A frozen master only believes it is master: it sends nothing.
        if (st === "MASTER" && k === 0) { masters.push(b.Host + (frozen ? " (frozen)" : "")); if (!frozen) live++; }
        parts.push((b.Instances.length > 1 ? esc(in_.Name) + " " : "") + '<span class="badge ' + st + '">' + (st === "DOWN" ? "daemon down" : st) + "</span>");
      });
      var v = spanAt(b.VIP, t);
      if (v) {
        vips.push(b.Host + (v.Note ? " (stale)" : ""));
        parts.push('<span class="badge vip' + (v.Note ? " stale" : "") + '">' + (v.Note ? "VIP kept by kernel" : "holds VIP") + "</span>");
      }
      (b.Conditions || []).forEach(function (c) {
        if (c.From <= t && t < c.To) parts.push('<span class="badge cond">' + esc(c.State) + "</span>");
      });
      var prio = null;
      (b.Priorities || []).forEach(function (p) { if (p.T <= t) prio = p.Value; });
      var srv = (b.Servers || []).map(function (r) {
        var s = spanAt(r.Spans, t), st = s ? s.State : "unknown";
        var cls = st === "in" ? "in" : st === "out" ? "out" : st === "weight 0" ? "w0" : "unknown";
        return '<span class="srv ' + cls + '" title="' + esc(s && s.Note) + '">' + esc(r.Server) + " " + esc(st) + "</span>";
      }).join("");
      html += '<div class="card" data-host="' + esc(b.Host) + '"><span class="host">' + esc(b.Host) + "</span>" + parts.join("") +
        (prio != null ? ' <span class="srv">prio ' + prio + "</span>" : "") +
        '<div class="table">table: ' + (srv || '<span class="srv unknown">not recorded</span>') + "</div></div>";
    });
    var c = M.Client || {}, ok = {}, failed = 0, sent = 0;
    (c.Buckets || []).forEach(function (bk) {
      if (bk.From > t - 1 && bk.From <= t) {
        (bk.ByServer || []).forEach(function (n, i) { ok[c.Servers[i]] = (ok[c.Servers[i]] || 0) + n; sent += n; });
        failed += bk.Failed; sent += bk.Failed;
      }
    });
    var out = (c.Outages || []).some(function (w) { return w.From <= t && t < w.To; });
    var served = Object.keys(ok).map(function (s) { return esc(s) + " " + ok[s]; }).join(", ") || "none";
    html += '<div class="card" data-host="client"><span class="host">client</span> last second: ' + sent + " sent · answered by " + served +
      " · failed " + failed + (out ? ' <span class="outage-now">· NO ANSWER (outage)</span>' : "") + "</div>";
    html = '<div class="card"><span class="host">now</span> master: <b>' + esc(masters.join(" + ") || "nobody") + "</b> · VIP on: <b>" +
      esc(vips.join(" + ") || "nobody") + "</b>" + (live > 1 ? ' <span class="outage-now">SPLIT BRAIN</span>' : "") + "</div>" + html;
    state.innerHTML = html;
  }

  function currentIndex() {
    var c = -1;
    for (var i = 0; i < events.length; i++) { if (events[i].T <= t + 1e-6) c = i; else break; }
    return c;
  }

  function update() {
    cursor.setAttribute("transform", "translate(" + xOf(t).toFixed(2) + ",0)");
    cursor.dataset.t = t.toFixed(3);
    clock.textContent = "t = " + fmt(t);
    renderState();
    var c = currentIndex();
    if (c !== current) {
      items.forEach(function (li, i) { li.classList.toggle("past", i <= c); li.classList.toggle("current", i === c); });
      current = c;
      if (c >= 0) {
        var li = items[c];
        if (li.offsetTop < list.scrollTop || li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight) {
          list.scrollTop = li.offsetTop - list.clientHeight / 3;
        }
      }
      if (pinned < 0) showEvent(c);
    }
  }

  function seek(tt) { t = Math.max(start, Math.min(end, tt)); pinned = -1; current = -2; update(); }
  function frame(now) {
    if (!playing) return;
    var dt = (now - last) / 1000; last = now;
    t += dt * +speedSel.value;
    if (t >= end) { t = end; setPlaying(false); }
    update();
    if (playing) requestAnimationFrame(frame);
  }
  function setPlaying(p) {
    playing = p;
    playBtn.textContent = p ? "❚❚ pause" : "▶ play";
    playBtn.setAttribute("aria-pressed", p ? "true" : "false");
    if (p) { if (t >= end) t = start; pinned = -1; last = performance.now(); requestAnimationFrame(frame); }
  }
  function stepEvent(dir) {
    var i;
    if (dir > 0) { for (i = 0; i < events.length; i++) if (events[i].T > t + 1e-4) return seek(events[i].T); seek(end); }
    else { for (i = events.length - 1; i >= 0; i--) if (events[i].T < t - 1e-4) return seek(events[i].T); seek(start); }
  }
  function select(i) {
    var e = events[i]; if (!e) return;
    setPlaying(false); seek(e.T); pinned = i; showEvent(i);
    svg.querySelectorAll(".hl").forEach(function (n) { n.classList.remove("hl"); });
    svg.querySelectorAll('[data-ev="' + i + '"]').forEach(function (n) { n.classList.add("hl"); });
  }

  playBtn.addEventListener("click", function () { setPlaying(!playing); playBtn.blur(); });
  document.getElementById("restart").addEventListener("click", function (e) { seek(start); e.target.blur(); });
  speedSel.addEventListener("change", function () { speedSel.blur(); });
  document.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA")) return;
    switch (e.key) {
      case " ": case "Spacebar": e.preventDefault(); setPlaying(!playing); break;
      case "ArrowRight": e.preventDefault(); setPlaying(false); if (e.shiftKey) seek(t + 1); else stepEvent(1); break;
      case "ArrowLeft": e.preventDefault(); setPlaying(false); if (e.shiftKey) seek(t - 1); else stepEvent(-1); break;
      case "Home": e.preventDefault(); seek(start); break;
      case "End": e.preventDefault(); seek(end); break;
      case "+": case "=": speedSel.selectedIndex = Math.min(speedSel.options.length - 1, speedSel.selectedIndex + 1); break;
      case "-": speedSel.selectedIndex = Math.max(0, speedSel.selectedIndex - 1); break;
    }
  });
  svg.addEventListener("click", function (e) {
    var n = e.target.closest("[data-ev]");
    if (n) { select(+n.dataset.ev); return; }
    var pt = svg.createSVGPoint(); pt.x = e.clientX; pt.y = e.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    if (p.x >= x0 && p.x <= x1) { setPlaying(false); seek(start + (p.x - x0) / (x1 - x0) * (end - start)); }
  });
  svg.addEventListener("mouseover", function (e) {
    var n = e.target.closest("[data-ev]");
    if (n) showEvent(+n.dataset.ev);
  });
  svg.addEventListener("mouseleave", function () { showEvent(pinned >= 0 ? pinned : current); });
  items.forEach(function (li) {
    li.addEventListener("click", function () { select(+li.dataset.i); });
  });
  // A link may name an instant: page.html#t=6.5 opens there.
  var m = /(?:^#|&)t=(-?[0-9.]+)/.exec(location.hash);
  seek(m ? +m[1] : start);
})();
