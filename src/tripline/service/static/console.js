// Tripline review console. Reveal only on an explicit click of #reveal;
// nothing listens for hover. Zoom changes a transform, never the filter.
(function () {
  "use strict";
  const csrf = document.body.dataset.csrf || "";
  const layout = document.querySelector(".item-layout");
  const media = document.getElementById("media");
  const viewer = document.getElementById("viewer");
  let zoom = 1, revealId = null, blurredSrc = media ? (media.getAttribute("src") || media.getAttribute("poster")) : null;

  if (viewer && viewer.dataset.blur) viewer.style.setProperty("--blur", viewer.dataset.blur + "px");

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body || {}) });
  }
  function setZoom(z) {
    zoom = Math.max(1, Math.min(4, z));
    if (media) media.style.transform = "scale(" + zoom + ")";
  }
  async function reveal() {
    if (!layout || !media || media.dataset.state === "revealed") return;
    const r = await post("/review/items/" + layout.dataset.item + "/reveal");
    if (r.status === 423) { window.location = "/review/break"; return; }
    if (!r.ok) { alert("Reveal refused: " + r.status); return; }
    const j = await r.json();
    revealId = j.reveal_id;
    if (media.tagName === "VIDEO") { media.poster = j.url; } else { media.src = j.url; }
    media.classList.remove("protected"); media.classList.add("revealed");
    media.dataset.state = "revealed";
    document.getElementById("reveal").hidden = true;
    document.getElementById("hide").hidden = false;
  }
  async function hide() {
    if (!media || media.dataset.state !== "revealed") return;
    if (media.tagName === "VIDEO") { media.poster = blurredSrc; } else { media.src = blurredSrc; }
    media.classList.add("protected"); media.classList.remove("revealed");
    media.dataset.state = "blurred";
    document.getElementById("reveal").hidden = false;
    document.getElementById("hide").hidden = true;
    const id = revealId; revealId = null;
    const r = await post("/review/items/" + layout.dataset.item + "/hide", { reveal_id: id });
    if (r.ok && (await r.json()).must_break) window.location = "/review/break";
  }
  // Leaving the page while revealed closes the reveal too, so its minutes count.
  window.addEventListener("pagehide", () => {
    if (!revealId || !layout) return;
    const fd = new FormData();
    fd.append("csrf_token", csrf);
    fd.append("reveal_id", String(revealId));
    navigator.sendBeacon("/review/items/" + layout.dataset.item + "/hide", fd);
    revealId = null;
  });
  const on = (id, fn) => { const el = document.getElementById(id); if (el) el.addEventListener("click", fn); };
  on("reveal", reveal);
  on("hide", hide);
  on("zoom-in", () => setZoom(zoom + 0.5));
  on("zoom-out", () => setZoom(zoom - 0.5));

  document.addEventListener("keydown", (e) => {
    if (!layout || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
    switch (e.key) {
      case "z": setZoom(zoom + 0.5); break;
      case "x": setZoom(zoom - 0.5); break;
      case "b": hide(); break;
      case "c": { const f = document.querySelector("#decide-confirm input[name=classification]"); if (f) f.focus(); break; }
      case "d": click("dismiss"); break;
      case "e": click("escalate"); break;
      case "s": click("skip"); break;
      default: return;
    }
    e.preventDefault();
  });

  // Break screen countdown; the server enforces the break either way.
  const brk = document.getElementById("break-screen");
  if (brk) {
    let left = parseInt(brk.dataset.seconds || "0", 10);
    const btn = document.getElementById("break-done"), out = document.getElementById("countdown");
    const tick = () => {
      if (left <= 0) { btn.disabled = false; out.textContent = "You can continue when ready."; return; }
      out.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + " left";
      left -= 1; setTimeout(tick, 1000);
    };
    tick();
  }
})();
