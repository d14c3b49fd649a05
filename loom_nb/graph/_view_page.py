"""The page around a drawing: its style sheet and its script (pan, zoom, tooltips, clusters).

Static text, no data: everything model-written reaches the page as escaped SVG text, and the script
only ever moves it with textContent.
"""

__all__ = ["PAGE_HEAD", "SCRIPT"]

PAGE_HEAD = """<!DOCTYPE html><html><head><meta charset=utf-8><title>$TITLE</title><style>
body{margin:0;display:flex;height:$HEIGHTpx;font:12px "DejaVu Sans",Verdana,"Segoe UI",Helvetica,Arial,sans-serif;
color:#222;background:#fff;overflow:hidden}
main{flex:1;display:flex;flex-direction:column;min-width:0;border:1px solid #ddd}
#bar{display:flex;gap:8px;align-items:center;padding:3px 6px;border-bottom:1px solid #eee}
#where{flex:1;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;color:#555}
#graph{flex:1;min-height:0;cursor:grab}#graph:active{cursor:grabbing}
#view{width:100%;height:100%;display:block;user-select:none}
#legend{width:200px;flex:none;overflow:auto;padding:4px 8px;border:1px solid #ddd;border-left:none;font-size:11px}
#legend b{display:block;margin-top:6px}#legend p{color:#666}#legend svg{vertical-align:middle}
.dim{opacity:.45}.sw{display:inline-block;width:10px;height:10px;border-radius:2px}
.st{display:inline-block;width:18px;height:9px;border:1.5px solid #555;border-radius:2px;vertical-align:middle}
.st.s{border-style:dashed}.st.a{border-style:dotted;opacity:.55}
#tip{position:fixed;z-index:2;max-width:420px;white-space:pre-wrap;background:#fffff4;border:1px solid #aaa;
padding:5px 7px;box-shadow:0 2px 6px rgba(0,0,0,.2);pointer-events:none;font-size:11px}
text{font-size:12px;fill:#1b1f24}text.m{font-size:10px;fill:#57606a}text.L{text-anchor:end;fill:#8c959f;font-style:italic}
.N text{transform:translate(30px,16px)}.N text.m{transform:translate(30px,31px)}
.N .cl text{transform:translate(18px,19px)}.N .cl text.m{transform:translate(18px,35px)}
.b{stroke:#57606a;stroke-width:1}[data-s=s] .b{stroke-dasharray:6 3}[data-s=a]{opacity:.55}
[data-s=a] .b{stroke-dasharray:1.5 2.5}.cl .b{fill:#f6f8fa;stroke-width:1.5}.cl{cursor:pointer}
.E path{fill:none;stroke-width:1.4;vector-effect:non-scaling-stroke}.E path.hl{stroke-width:3.5}
.E path.hit{stroke:transparent;stroke-width:9;marker-end:none;stroke-dasharray:none}
.N svg.hl .b{stroke:#000;stroke-width:2}.G rect{fill:#f6f8fa;stroke:#afb8c1;stroke-dasharray:5 3}
.G text{font-size:11px;font-weight:bold;fill:#57606a}$CSS
</style></head>"""

SCRIPT = r"""
(function () {
  "use strict";
  var svg = document.getElementById("view"), content = document.getElementById("content");
  var tip = document.getElementById("tip"), back = document.getElementById("back");
  var where = document.getElementById("where"), home0 = where.textContent;
  var tips = new WeakMap(), twin = new WeakMap(), twinned = new WeakSet(), named = new WeakSet();
  var touching = {}, overview = null, home, vb;
  var edgeTypes = svg.getAttribute("data-edges").split(" ");
  function box(s) { return s.split(" ").map(Number); }
  function show(v) { vb = v; svg.setAttribute("viewBox", v.join(" ")); }
  function fit() { show(home.slice()); }
  function index() {  // titles become our tooltips (text only); edges are indexed by their ends
    touching = {};
    content.querySelectorAll("title").forEach(function (t) {
      tips.set(t.parentNode, t.textContent); t.remove();
    });
    content.querySelectorAll(".E path[id]").forEach(function (p) {
      var ends = p.id.split("-"), b = ends[0][0] + ends[1];
      if (!twinned.has(p)) {  // a wider, invisible twin under the pointer: a thin edge is easy to hover
        var hit = p.cloneNode(false);
        hit.removeAttribute("id"); hit.removeAttribute("style"); hit.setAttribute("class", "hit");
        twin.set(hit, p); twinned.add(p); p.parentNode.insertBefore(hit, p.nextSibling);
      }
      if (ends[0][0] === "n" && !named.has(p)) {  // type from the class, ends from the id
        var type = edgeTypes[+p.getAttribute("class").slice(1)] || "other", more = tips.get(p);
        tips.set(p, type + " · #" + ends[0].slice(1) + " → #" + ends[1] + (more ? "\n" + more : ""));
        named.add(p);
      }
      (touching[ends[0]] = touching[ends[0]] || []).push(p);
      (touching[b] = touching[b] || []).push(p);
    });
  }
  function node(el) {
    while (el && el !== svg) {
      if (el.parentNode && el.parentNode.classList && el.parentNode.classList.contains("N")) return el;
      if (el.tagName === "path" && el.parentNode.classList.contains("E")) return twin.get(el) || el;
      el = el.parentNode;
    }
    return null;
  }
  var lit = [];
  function light(el) {
    lit.forEach(function (p) { p.classList.remove("hl"); }); lit = [];
    if (!el) return;
    lit = (touching[el.id] || []).concat([el]);
    lit.forEach(function (p) { p.classList.add("hl"); });
  }
  svg.addEventListener("pointerover", function (ev) {
    var el = node(ev.target);
    light(el && el.tagName === "svg" ? el : null);
    if (!el || !tips.has(el)) { tip.hidden = true; return; }
    var text = tips.get(el), edges = el.tagName === "svg" ? touching[el.id] || [] : [];
    if (edges.length) {
      text += "\n\nedges:\n" + edges.slice(0, 8).map(function (p) {
        return (tips.get(p) || "").split("\n")[0];
      }).join("\n");
      if (edges.length > 8) text += "\n… " + (edges.length - 8) + " more";
    }
    tip.textContent = text; tip.hidden = false;
  });
  svg.addEventListener("pointermove", function (ev) {
    if (tip.hidden) return;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > innerWidth) x = Math.max(0, ev.clientX - tip.offsetWidth - 8);
    if (y + tip.offsetHeight > innerHeight) y = Math.max(0, ev.clientY - tip.offsetHeight - 8);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  });
  svg.addEventListener("pointerleave", function () { tip.hidden = true; light(null); });
  function user(ev) {
    var p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var u = user(ev), k = Math.pow(1.0015, ev.deltaY);
    show([u.x - (u.x - vb[0]) * k, u.y - (u.y - vb[1]) * k, vb[2] * k, vb[3] * k]);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, vb: vb.slice(), k: 1 / svg.getScreenCTM().a, moved: false };
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved) show([drag.vb[0] - dx * drag.k, drag.vb[1] - dy * drag.k, vb[2], vb[3]]);
  });
  window.addEventListener("pointerup", function () { setTimeout(function () { drag = null; }, 0); });
  svg.addEventListener("dblclick", fit);
  document.getElementById("fit").addEventListener("click", fit);
  function expand(id) {  // a cluster's own drawing, from its inert template
    var t = document.getElementById("t" + id);
    if (!t) return false;
    if (!overview) overview = { nodes: Array.prototype.slice.call(content.childNodes), home: home };
    var drawing = t.content.firstElementChild.cloneNode(true);
    content.replaceChildren.apply(content, Array.prototype.slice.call(drawing.childNodes));
    home = box(t.getAttribute("data-view")); fit(); index();
    where.textContent = t.getAttribute("data-title"); back.hidden = false; tip.hidden = true;
    return true;
  }
  function up() {
    if (!overview) return;
    content.replaceChildren.apply(content, overview.nodes);
    home = overview.home; overview = null; fit(); index();
    where.textContent = home0; back.hidden = true;
  }
  svg.addEventListener("click", function (ev) {
    if (drag && drag.moved) return;
    var el = node(ev.target);
    if (el && el.classList.contains("cl")) expand(el.id);
  });
  back.addEventListener("click", up);
  home = box(svg.getAttribute("data-home")); fit(); index();
  window.loomView = {
    expand: expand, back: up, fit: fit,
    boxes: function () {  // each drawn node's box on screen: [id, left, top, width, height]
      return Array.prototype.map.call(content.querySelectorAll(".N > svg"), function (n) {
        var r = n.querySelector("rect.b").getBoundingClientRect();
        return [n.id, r.left, r.top, r.width, r.height];
      });
    },
    bands: function () {  // each task's band on screen: [id, left, top, width, height, task, label]
      return Array.prototype.map.call(content.querySelectorAll(".G > svg"), function (g) {
        var r = g.querySelector("rect").getBoundingClientRect();
        var label = g.querySelector("text").textContent;
        return [g.id, r.left, r.top, r.width, r.height, g.getAttribute("data-task"), label];
      });
    }
  };
  document.body.setAttribute("data-drawn", "1");
})();
"""
