// hetflow report: fills the tables from the page's data, shows a tooltip for a node of
// the graph or a bar of the time line, highlights a chip from the legend, filters the
// placement table. No network, no library.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var byId = {};
  D.nodes.forEach(function (n) { byId[n[0]] = n; });

  function money(x) {
    if (x === null || x === undefined) return "—";
    if (x === 0) return "$0";
    var a = Math.abs(x);
    if (a < 0.01) return "$" + x.toFixed(4);
    if (a < 100) return "$" + x.toFixed(3);
    return "$" + Math.round(x).toLocaleString("en-US");
  }
  function secs(x) {
    if (x === null || x === undefined) return "—";
    if (x < 1) return Math.round(x * 1000) + " ms";
    if (x < 120) return x.toFixed(2) + " s";
    return (x / 60).toFixed(1) + " min";
  }
  function count(x) {
    if (x === null || x === undefined) return "";
    if (x >= 10000) return Math.round(x / 1000).toLocaleString("en-US") + "k";
    return Math.round(x).toLocaleString("en-US");
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function dot(i) {
    var color = i >= 0 ? D.colors[i] : "#94a3b8";
    return '<i class="dot" style="background:' + color + '"></i>';
  }
  function err(have, want) {
    if (want <= 0) return have <= 0 ? ["—", ""] : ["new", "far"];
    var e = (have - want) / want;
    var cls = Math.abs(e) <= D.offby ? "ok" : Math.abs(e) <= 1 ? "off" : "far";
    return [(e >= 0 ? "+" : "") + Math.round(e * 100) + "%", cls];
  }

  // ---- placement table
  var rows = [];
  D.nodes.forEach(function (n) {
    var chip = n[3] >= 0 ? D.chips[n[3]] : "cpu";
    var tags = n[11] & 2 ? ' <span class="tag pin">pinned</span>' : "";
    var needs = n[4] ? n[4].split(", ").map(function (x) {
      return '<span class="need">' + esc(x) + "</span>";
    }).join(" ") : "";
    var where = n[2] ? esc(n[2]) + ' <span class="at">@</span> ' + esc(chip) : '<span class="muted">CPU</span>';
    var alts = n[9].map(function (a) {
      return '<div><span class="of">' + esc(D.offers[a[0]]) + '</span> <span class="muted">' + money(a[1]) + " · " + secs(a[2]) + "</span></div>";
    }).join("");
    rows.push("<tr" + (n[11] & 1 ? ' class="crit"' : "") + '><td class="id">' + esc(n[0]) + tags +
      "</td><td>" + esc(n[1]) + '</td><td class="on">' + dot(n[3]) + where + '</td><td class="nd">' + needs +
      (n[4] && n[5] ? ' <span class="tag soft">derived</span>' : "") +
      '</td><td class="n">' + money(n[6]) + '</td><td class="n">' + secs(n[7]) +
      '</td><td class="n">' + count(n[8]) + '</td><td class="alts">' + alts +
      '</td><td class="why">' + esc(n[10]) + "</td></tr>");
  });
  // the first rows at once, the rest after the first paint: a big plan opens fast
  var ptable = document.querySelector("#placement-table tbody");
  var FIRST = 150, CHUNK = 400;
  ptable.innerHTML = rows.slice(0, FIRST).join("");
  function more(from) {
    if (from >= rows.length) return;
    ptable.insertAdjacentHTML("beforeend", rows.slice(from, from + CHUNK).join(""));
    setTimeout(function () { more(from + CHUNK); }, 0);
  }
  setTimeout(function () { more(FIRST); }, 0);

  // ---- predicted vs actual
  var vtable = document.querySelector("#versus-table tbody");
  if (vtable && D.versus) {
    var fmts = [count, count, count, secs, money];
    vtable.innerHTML = (D.total ? [D.total] : []).concat(D.versus).map(function (v, row) {
      var cells = "";
      for (var i = 0; i < 5; i++) {
        var e = err(v[3][i], v[2][i]);
        cells += '<td class="n">' + fmts[i](v[2][i]) + '</td><td class="n">' +
          (v[1] ? fmts[i](v[3][i]) : "—") + '</td><td class="n pct ' + (v[1] ? e[1] : "") + '">' +
          (v[1] ? e[0] : "not run") + "</td>";
      }
      var cls = D.total && row === 0 ? ' class="total"' : v[1] ? "" : ' class="notrun"';
      return "<tr" + cls + '><td class="id">' + esc(v[0]) + "</td>" +
        cells + '<td class="n">' + (v[4] || "") + "</td></tr>";
    }).join("");
  }

  // ---- tooltip
  var tip = document.getElementById("tip");
  function show(ev, name) {
    var n = byId[name];
    var html = "<b>" + esc(name) + "</b>";
    if (!n) {
      html += ' <span class="muted">input</span>';
    } else {
      var chip = n[3] >= 0 ? D.chips[n[3]] : "cpu";
      html += ' <span class="muted">' + esc(n[1]) + "</span><br>" + dot(n[3]) +
        (n[2] ? esc(n[2]) + " @ " + esc(chip) : "CPU") +
        "<br>est. " + money(n[6]) + " · " + secs(n[7]) + (n[8] ? " · " + count(n[8]) + (n[8] === 1 ? " call" : " calls") : "");
      var sp = D.spans[name];
      if (sp && sp[0]) html += "<br>" + esc(D.predicted) + ": " + secs(sp[0][1]) + " → " + secs(sp[0][2]);
      if (sp && sp[1]) html += "<br>actual: " + secs(sp[1][1]) + " → " + secs(sp[1][2]) + " · " + sp[1][3] + (sp[1][3] === 1 ? " call" : " calls");
    }
    tip.innerHTML = html;
    tip.hidden = false;
    move(ev);
  }
  function move(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = ev.clientX - w - 14;
    if (y + h > window.innerHeight - 8) y = ev.clientY - h - 14;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  var nodes = document.querySelectorAll(".graph [data-node]");
  var bars = document.querySelectorAll(".gantt [data-node]");
  function hover(name, on) {
    nodes.forEach(function (n) { if (n.getAttribute("data-node") === name) n.classList.toggle("hl", on); });
    bars.forEach(function (b) { if (b.getAttribute("data-node") === name) b.classList.toggle("hl", on); });
  }
  [nodes, bars].forEach(function (list) {
    list.forEach(function (el) {
      var name = el.getAttribute("data-node");
      el.addEventListener("mouseenter", function (ev) { hover(name, true); show(ev, name); });
      el.addEventListener("mousemove", move);
      el.addEventListener("mouseleave", function () { hover(name, false); tip.hidden = true; });
    });
  });

  // ---- legend: one chip's nodes
  var chosen = null;
  document.querySelectorAll(".chipkey").forEach(function (key) {
    key.addEventListener("click", function () {
      var chip = key.getAttribute("data-chip");
      chosen = chosen === chip ? null : chip;
      document.querySelectorAll(".chipkey").forEach(function (k) {
        k.classList.toggle("on", k.getAttribute("data-chip") === chosen);
      });
      function on(el) {
        var n = byId[el.getAttribute("data-node")];
        var c = n ? (n[3] >= 0 ? D.chips[n[3]] : "cpu") : null;
        return chosen === null || c === chosen;
      }
      nodes.forEach(function (el) { el.classList.toggle("dim", !on(el)); });
      bars.forEach(function (el) { el.classList.toggle("dim", !on(el)); });
    });
  });

  // ---- filter
  var filter = document.getElementById("filter");
  filter.addEventListener("input", function () {
    var q = filter.value.trim().toLowerCase();
    ptable.querySelectorAll("tr").forEach(function (r) {
      r.style.display = !q || r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
    });
  });
})();
