// The dashboard's only script: draws the charts the page describes, and keeps the live calls view up to date.
// No framework and no build step; text from calls is set with textContent, never as HTML.
"use strict";

function drawCharts() {
  if (typeof Chart === "undefined") return;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    const box = canvas.parentElement;
    if (box.dataset.rows) box.style.height = `${Math.max(160, 40 + 28 * Number(box.dataset.rows))}px`;
    new Chart(canvas, JSON.parse(source.textContent));
  });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

const nodeWords = (node) => (node ? String(node).replace(/_/g, " ") : "");

function liveCalls() {
  const list = document.getElementById("live-calls");
  if (!list) return;
  const status = document.getElementById("live-status");
  const none = document.getElementById("no-live-calls");
  const badge = document.getElementById("live-count");
  const cards = new Map();

  function count() {
    const live = [...cards.values()].filter((c) => !c.classList.contains("ended")).length;
    none.hidden = cards.size > 0;
    if (badge) {
      badge.hidden = live === 0;
      badge.textContent = `${live} live`;
    }
  }

  function addTurn(card, turn) {
    const transcript = card.querySelector(".transcript");
    if (turn.caller_heard) transcript.append(el("li", "caller", turn.caller_heard));
    transcript.append(el("li", "bot", turn.bot_said));
    transcript.scrollTop = transcript.scrollHeight;
  }

  function card(call) {
    const article = el("article", "card live-call");
    article.dataset.call = call.call_sid;
    article.dataset.started = call.started_at;
    const head = el("header");
    head.append(el("strong", "", call.caller || "Unknown number"), " ", el("span", "node", nodeWords(call.node)),
      " ", el("span", "clock muted small", ""));
    article.append(head, el("ol", "transcript"));
    (call.turns || []).forEach((t) => addTurn(article, t));
    return article;
  }

  function put(call) {
    const made = card(call);
    const old = cards.get(call.call_sid);
    if (old) old.replaceWith(made); else list.prepend(made);
    cards.set(call.call_sid, made);
  }

  const feed = new EventSource("/dashboard/live/events");
  feed.onopen = () => { status.textContent = "Live: new calls and turns appear as they happen."; };
  feed.onerror = () => { status.textContent = "Reconnecting to the live feed…"; };
  feed.addEventListener("snapshot", (e) => {
    const { calls } = JSON.parse(e.data);
    cards.forEach((c, sid) => { if (!c.classList.contains("ended")) { c.remove(); cards.delete(sid); } });
    list.querySelectorAll(".live-call:not(.ended)").forEach((c) => c.remove());
    calls.forEach(put);
    count();
  });
  feed.addEventListener("started", (e) => { put(JSON.parse(e.data).call); count(); });
  feed.addEventListener("turn", (e) => {
    const data = JSON.parse(e.data);
    const c = cards.get(data.call_sid);
    if (!c) return;
    addTurn(c, data.turn);
    c.querySelector(".node").textContent = nodeWords(data.node);
  });
  feed.addEventListener("node", (e) => {
    const data = JSON.parse(e.data);
    const c = cards.get(data.call_sid);
    if (c) c.querySelector(".node").textContent = nodeWords(data.node);
  });
  feed.addEventListener("ended", (e) => {
    const data = JSON.parse(e.data);
    const c = cards.get(data.call_sid);
    if (!c) return;
    c.classList.add("ended");
    c.querySelector(".node").textContent = `ended: ${nodeWords(data.outcome)}`;
    const link = el("a", "button quiet", "Open the call");
    link.href = `/dashboard/calls/${encodeURIComponent(data.call_sid)}`;
    c.append(link);
    count();
  });

  setInterval(() => {
    cards.forEach((c) => {
      if (c.classList.contains("ended")) return;
      const secs = Math.max(0, Math.round(Date.now() / 1000 - Number(c.dataset.started)));
      c.querySelector(".clock").textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
    });
  }, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  liveCalls();
});
