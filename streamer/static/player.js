// The player: submit a script, feed the WebSocket's fMP4 segments to Media Source Extensions.
// Protocol: docs/websocket.md. window.player exposes the state for tests and debugging.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const HEADER_BYTES = 21, KIND_INIT = 0;
  const RETRY_FIRST_MS = 500, RETRY_MAX_MS = 8000, CODE_TOO_SLOW = 4408;
  const player = (window.player = { jobId: null, live: false, segments: [], errors: [], ended: false, words: [],
    state: null, closed: null });
  let ws = null, ms = null, sb = null, queue = [], nextSeq = 0, endOfStream = false, retryMs = RETRY_FIRST_MS;

  const apiKey = () => $("apikey").value.trim();
  const headers = () => (apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {});
  const show = (text) => { $("state").textContent = text; };
  const fail = (text) => { player.errors.push(text); show(`Error: ${text}`); $("go").disabled = false; };

  async function fillSelect(select, url, key, pickList) {
    try {
      const response = await fetch(url, { headers: headers() });
      if (!response.ok) return;
      const body = await response.json();
      const items = pickList(body).map((item) => (typeof item === "string" ? item : item[key] || item.id)).filter(Boolean);
      if (!items.length) return;
      const current = select.value;
      select.replaceChildren(...items.map((id) => new Option(id, id, false, id === current)));
    } catch (e) { /* keep the defaults */ }
  }

  function pump() {
    if (!sb || sb.updating || !queue.length) {
      if (sb && !sb.updating && !queue.length && endOfStream && ms.readyState === "open") ms.endOfStream();
      return;
    }
    try { sb.appendBuffer(queue.shift()); } catch (e) { fail(`append failed: ${e.message}`); }
  }

  function startMedia(mime) {
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) { fail(`this browser cannot play ${mime}`); return; }
    ms = new MediaSource();
    const video = $("video");
    video.src = URL.createObjectURL(ms);
    ms.addEventListener("sourceopen", () => {
      sb = ms.addSourceBuffer(mime);
      sb.mode = "segments"; // fragments carry their own decode times (tfdt)
      sb.addEventListener("updateend", pump);
      pump();
    }, { once: true });
    video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });
  }

  function onBinary(buffer) {
    const view = new DataView(buffer);
    const kind = view.getUint8(0), seq = view.getUint32(1);
    const payload = new Uint8Array(buffer, HEADER_BYTES);
    if (kind === KIND_INIT) { if (!player.initSeen) { player.initSeen = true; queue.push(payload); pump(); } return; }
    if (seq !== nextSeq) return; // never happens: the server sends in order with no gap
    nextSeq = seq + 1;
    player.segments.push({ seq, start_s: view.getFloat64(5), duration_s: view.getFloat64(13), bytes: payload.length });
    queue.push(payload);
    pump();
  }

  function onStatus(status) {
    player.state = status.state;
    $("progress").value = status.progress || 0;
    show(`${status.state}${status.stage ? ` (${status.stage})` : ""} · ${nextSeq} segments`);
    if (status.state === "completed") {
      const link = $("download");
      // signed by the gateway when keys are checked: the link works without one, and holds none
      link.href = status.video_url || `/api/v1/video/${status.job_id}`;
      link.download = `${status.job_id}.mp4`;
      link.hidden = false;
      $("go").disabled = false;
      $("live").disabled = false;
    }
  }

  // A WebSocket cannot carry headers: with a key, each (re)connect first asks for a ticket that
  // opens this job's stream for a minute, so the key itself never goes into a URL.
  async function ticketParam(jobId) {
    if (!apiKey()) return "";
    const response = await fetch(`/api/v1/jobs/${jobId}/ticket`, { method: "POST", headers: headers() });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return `&ticket=${encodeURIComponent(answer.ticket)}`;
  }

  async function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const jobId = player.jobId;
    let ticket;
    try { ticket = await ticketParam(jobId); } catch (e) { return fail(`no stream ticket: ${e.message}`); }
    if (jobId !== player.jobId) return; // a new submit came meanwhile
    const path = player.live ? `/api/v1/sessions/${jobId}/stream` : `/api/v1/stream/${jobId}`;
    const socket = (ws = new WebSocket(`${scheme}://${location.host}${path}?from_seq=${nextSeq}${ticket}`));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (event) => {
      retryMs = RETRY_FIRST_MS; // the server answers: a later drop starts the backoff again
      if (typeof event.data !== "string") return onBinary(event.data);
      const message = JSON.parse(event.data);
      if (message.type === "status") onStatus(message.status);
      else if (message.type === "init") { if (!ms) startMedia(message.mime || 'video/mp4; codecs="avc1.64001f, mp4a.40.2"'); }
      else if (message.type === "captions") player.words.push(...message.words);
      else if (message.type === "end") { player.ended = true; endOfStream = true; liveButtons(false); pump(); pollUntilDone(); }
      else if (message.type === "error" && message.code == null && player.live) show(`Not taken: ${message.error}`);
      else if (message.type === "error") fail(message.error);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return; // a socket this page already replaced (a new submit)
      player.closed = { code: event.code, reason: event.reason };
      if (player.ended || event.code === 1000) return;
      // A refusal (4xxx: key, origin, job, rate limit...) says why and is final; the server's
      // `error` message came first, the close reason is the fallback when it did not.
      if (event.code >= 4000 && event.code !== CODE_TOO_SLOW) {
        if (!player.errors.length) fail(event.reason || `stream closed (${event.code})`);
        return;
      }
      // A network drop, or too slow: resume where we stopped, backing off while it keeps failing.
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  }

  async function pollUntilDone() {
    for (let i = 0; i < 600 && player.state !== "completed" && player.state !== "failed"; i++) {
      const response = await fetch(`/api/v1/status/${player.jobId}`, { headers: headers() });
      if (response.ok) onStatus(await response.json());
      if (player.state !== "completed") await new Promise((r) => setTimeout(r, 500));
    }
  }

  function renderCaptions() {
    const t = $("video").currentTime;
    const line = player.words.filter((w) => w.end_s >= t - 2 && w.start_s <= t + 1);
    $("captions").replaceChildren(...line.map((w) => {
      const span = document.createElement("span");
      span.textContent = `${w.text} `;
      if (w.start_s <= t && t < w.end_s) span.className = "now";
      return span;
    }));
  }

  function reset(live) {
    if (ws) ws.close(1000);
    Object.assign(player, { jobId: null, live, segments: [], errors: [], ended: false, words: [], state: null,
      initSeen: false, closed: null });
    ms = sb = null; queue = []; nextSeq = 0; endOfStream = false; retryMs = RETRY_FIRST_MS;
    $("download").hidden = true;
    $("go").disabled = true;
    liveButtons(false);
    localStorage.setItem("avatar-stream-key", apiKey());
  }

  function liveButtons(on) {
    for (const id of ["say", "interrupt", "end"]) $(id).disabled = !on;
    $("live").disabled = on;
  }

  // A live session (README: Live sessions): the script box is said in word-sized pieces, as an
  // LLM would send its tokens; the server speaks each sentence as it completes.
  async function openLive() {
    reset(true);
    const body = { avatar_id: $("avatar").value, voice_id: $("voice").value };
    const response = await fetch("/api/v1/sessions", {
      method: "POST", headers: { "Content-Type": "application/json", ...headers() }, body: JSON.stringify(body) });
    const answer = await response.json();
    if (!response.ok) { liveButtons(false); return fail(answer.error || response.statusText); }
    player.jobId = answer.session_id;
    show(`session ${answer.session_id} open · say something`);
    await connect();
    ws.addEventListener("open", () => liveButtons(true), { once: true });
  }

  function send(message) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)); }

  function say() {
    const words = $("text").value.split(/(?=\s)/);
    for (const word of words) send({ type: "say", text: word, final: false });
    send({ type: "say", text: "", final: true });
  }

  async function submit(event) {
    event.preventDefault();
    reset(false);
    const body = { text: $("text").value, avatar_id: $("avatar").value, voice_id: $("voice").value };
    const audio = $("audiofile").files[0];  // an audio job instead: multipart, the browser sets its type
    const form = new FormData();
    if (audio) { form.append("audio", audio); form.append("avatar_id", body.avatar_id); }
    const response = await fetch("/api/v1/generate", audio
      ? { method: "POST", headers: headers(), body: form }
      : { method: "POST", headers: { "Content-Type": "application/json", ...headers() }, body: JSON.stringify(body) });
    const answer = await response.json();
    if (!response.ok) return fail(answer.error || response.statusText);
    player.jobId = answer.job_id;
    show(`queued · job ${answer.job_id}`);
    connect();
  }

  $("apikey").value = localStorage.getItem("avatar-stream-key") || "";
  $("form").addEventListener("submit", submit);
  $("live").addEventListener("click", openLive);
  $("say").addEventListener("click", say);
  $("interrupt").addEventListener("click", () => send({ type: "interrupt" }));
  $("end").addEventListener("click", () => { send({ type: "end" }); liveButtons(false); $("live").disabled = true; });
  $("video").addEventListener("timeupdate", renderCaptions);
  $("video").addEventListener("error", () => fail(`media error ${$("video").error && $("video").error.code}`));
  // Lists may be plain arrays or wrapped ({items}, {avatars}, {voices}); only ready avatars can speak.
  const listOf = (b, name) => (Array.isArray(b) ? b : b.items || b[name] || []);
  player.ready = Promise.all([
    fillSelect($("avatar"), "/api/v1/avatars", "avatar_id",
      (b) => listOf(b, "avatars").filter((a) => typeof a === "string" || !a.state || a.state === "ready")),
    fillSelect($("voice"), "/api/v1/voices", "voice_id", (b) => listOf(b, "voices")),
  ]);
})();
