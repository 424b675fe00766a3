// egoinstruct session explorer: videos with gaze and face overlays, the transcript and stacked
// timelines under one cursor on the session clock. Data come as scripts beside the page
// (egoExplorerData(name, value)), since browsers do not fetch file:// URLs.
(function () {
  "use strict";

  const folder = document.body.dataset.folder;
  const store = {};
  const waiting = {};
  window.egoExplorerData = function (name, value) {
    store[name] = value;
    (waiting[name] || []).forEach((resolve) => resolve(value));
    delete waiting[name];
  };

  function load(name, file) {
    return new Promise((resolve, reject) => {
      if (name in store) { resolve(store[name]); return; }
      (waiting[name] = waiting[name] || []).push(resolve);
      const script = document.createElement("script");
      script.src = file;
      script.onerror = () => reject(new Error("cannot read " + file + " (is the page's data folder beside it?)"));
      document.head.appendChild(script);
    });
  }

  const $ = (id) => document.getElementById(id);
  const state = { t: 0, duration: 1, playing: false, meta: null, tracks: [], devices: [], utterances: [],
                  utteranceStarts: [],
                  current: -1, currentWord: -1, method: null, lastFrame: null, selected: null };

  // ---------- time ----------
  function fmt(t) {
    const m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(2);
  }
  function clamp(t) { return Math.min(Math.max(t, 0), state.duration); }

  function seek(t) {
    state.t = clamp(t);
    for (const d of state.devices) syncVideo(d, true);
    render();
  }

  function syncVideo(d, force) {
    const v = d.video;
    if (!v) return;
    const local = state.t - d.info.t0;
    const inside = local >= 0 && state.t <= d.info.t_end + 1 / d.info.fps;
    const target = Math.min(Math.max(local, 0), Math.max(0, v.duration ? v.duration - 1e-3 : local));
    if (force || Math.abs(v.currentTime - target) > 0.25) v.currentTime = target;
    if (state.playing && inside && v.paused) v.play().catch(() => {});
    if ((!state.playing || !inside) && !v.paused) v.pause();
  }

  function tick(now) {
    if (!state.playing) return;
    if (state.lastFrame !== null) state.t = clamp(state.t + (now - state.lastFrame) / 1000);
    state.lastFrame = now;
    if (state.t >= state.duration) { setPlaying(false); } else { requestAnimationFrame(tick); }
    for (const d of state.devices) syncVideo(d, false);
    render();
  }

  function setPlaying(on) {
    state.playing = on;
    state.lastFrame = null;
    $("play").textContent = on ? "❚❚ pause" : "▶ play";
    for (const d of state.devices) syncVideo(d, false);
    if (on) requestAnimationFrame(tick);
  }

  // ---------- lookups ----------
  function nearest(times, t) { // index of the last time <= t (binary search), -1 if none
    let lo = 0, hi = times.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) { best = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return best;
  }
  function closest(times, t) {
    const i = nearest(times, t);
    if (i < 0) return times.length ? 0 : -1;
    if (i + 1 < times.length && times[i + 1] - t < t - times[i]) return i + 1;
    return i;
  }
  function segmentAt(segments, t) {
    let lo = 0, hi = segments.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (segments[mid][0] <= t) { best = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return best >= 0 && t < segments[best][1] ? segments[best] : null;
  }

  // ---------- colours ----------
  const FIXED = { partner_face: "#e4572e", workspace: "#76b041", other: "#b0b0b0", unknown: "#e8e8e8",
                  agrees: "#76b041", disagrees: "#e4572e", "(none)": "#dddddd", background: "#d9d9d9" };
  function colour(label) {
    if (label in FIXED) return FIXED[label];
    let h = 0;
    for (let i = 0; i < label.length; i++) h = (h * 31 + label.charCodeAt(i)) >>> 0;
    return "hsl(" + (h % 360) + ", 62%, 68%)";
  }

  // ---------- videos and overlays ----------
  function buildVideos(meta) {
    const box = $("videos"), toggles = $("devices-toggle");
    for (const info of meta.devices) {
      const fig = document.createElement("figure");
      fig.className = "device";
      fig.dataset.device = info.name;
      const frame = document.createElement("div");
      frame.className = "frame";
      const d = { info, fig, video: null, canvas: null, gaze: null, faces: null };
      if (info.video) {
        const v = document.createElement("video");
        v.src = info.video;
        v.muted = true;
        v.preload = "auto";
        v.playsInline = true;
        v.addEventListener("loadedmetadata", () => { syncVideo(d, true); drawOverlay(d); });
        v.addEventListener("seeked", () => drawOverlay(d));
        frame.appendChild(v);
        d.video = v;
        const c = document.createElement("canvas");
        frame.appendChild(c);
        d.canvas = c;
      } else {
        const p = document.createElement("p");
        p.className = "novideo";
        p.textContent = "no browser-playable video (analysis stream off)";
        frame.appendChild(p);
      }
      fig.appendChild(frame);
      const cap = document.createElement("figcaption");
      cap.textContent = info.name + " (" + info.role + ")" + (info.gaze ? " · gaze" : "") + (info.faces ? " · faces" : "");
      fig.appendChild(cap);
      box.appendChild(fig);
      state.devices.push(d);
      const label = document.createElement("label");
      const check = document.createElement("input");
      check.type = "checkbox";
      check.checked = true;
      check.addEventListener("change", () => { fig.classList.toggle("hidden", !check.checked); drawOverlay(d); });
      label.appendChild(check);
      label.appendChild(document.createTextNode(" " + info.name + " "));
      toggles.appendChild(label);
    }
    window.addEventListener("resize", () => state.devices.forEach(drawOverlay));
  }

  function drawOverlay(d) {
    const c = d.canvas, v = d.video;
    if (!c || !v) return;
    const w = v.clientWidth, h = v.clientHeight;
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    if (!w || !h) return;
    const t = state.t;
    const f = d.faces;
    if (f && f.t.length) {
      const i = closest(f.t, t);
      const box = f.box[i];
      if (box && Math.abs(f.t[i] - t) <= 0.15) {
        const sx = w / (f.width || d.info.source_width), sy = h / (f.height || d.info.source_height);
        ctx.strokeStyle = "#00b8d4";
        ctx.lineWidth = 2;
        ctx.strokeRect(box[0] * sx, box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy);
      }
    }
    const g = d.gaze;
    if (g && g.t.length) {
      const sx = w / (g.width || d.info.source_width), sy = h / (g.height || d.info.source_height);
      const fx = g.fixations.find((x) => x[0] <= t && t <= x[1]);
      if (fx) {
        ctx.strokeStyle = "#00c800";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(fx[2] * sx, fx[3] * sy, 14, 0, 2 * Math.PI);
        ctx.stroke();
      }
      const i = closest(g.t, t);
      const tolerance = 1.5 / (g.rate_hz || 30);
      ctx.strokeStyle = "rgba(255, 180, 0, 0.8)";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let started = false;
      for (let k = nearest(g.t, t - 0.5) + 1; k >= 0 && k <= i; k++) {
        if (g.u[k] === null) { started = false; continue; }
        if (!started) { ctx.moveTo(g.u[k] * sx, g.v[k] * sy); started = true; } else { ctx.lineTo(g.u[k] * sx, g.v[k] * sy); }
      }
      ctx.stroke();
      if (i >= 0 && Math.abs(g.t[i] - t) <= tolerance && g.u[i] !== null) {
        const x = g.u[i] * sx, y = g.v[i] * sy;
        d.fig.dataset.gazeX = x.toFixed(2);
        d.fig.dataset.gazeY = y.toFixed(2);
        ctx.fillStyle = "#ff00ff";
        ctx.beginPath();
        ctx.arc(x, y, 6, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        delete d.fig.dataset.gazeX;
        delete d.fig.dataset.gazeY;
      }
    }
  }

  // ---------- transcript ----------
  function buildTranscript(utterances) {
    const box = $("transcript");
    state.utterances = utterances || [];
    state.utteranceStarts = state.utterances.map((u) => u.t0); // searched on every frame drawn
    if (!state.utterances.length) {
      box.innerHTML = '<p class="empty">' + (utterances ? "No speech was transcribed." : "No transcript.") + "</p>";
      return;
    }
    const parts = state.utterances.map((u, i) => {
      const words = u.words.length
        ? u.words.map((w, k) => '<span class="w" data-k="' + k + '">' + esc(w[2]) + "</span>").join(" ")
        : esc(u.text);
      return '<div class="utt ' + esc(u.role) + '" data-i="' + i + '"><span class="who">' + fmt(u.t0) + " " +
        esc(u.role || u.speaker) + "</span>" + words + "</div>";
    });
    box.innerHTML = parts.join("");
    box.addEventListener("click", (e) => {
      const utt = e.target.closest(".utt");
      if (!utt) return;
      const u = state.utterances[+utt.dataset.i];
      const word = e.target.closest(".w");
      seek(word ? u.words[+word.dataset.k][0] : u.t0);
    });
  }

  function renderTranscript() {
    const list = state.utterances;
    let cur = -1;
    for (let i = nearest(state.utteranceStarts, state.t); i >= 0; i--) {
      if (state.t < list[i].t1) { cur = i; break; }
      if (list[i].t1 < state.t - 60) break;
    }
    const box = $("transcript");
    if (cur !== state.current) {
      box.querySelectorAll(".current").forEach((el) => el.classList.remove("current"));
      if (cur >= 0) {
        const el = box.children[cur];
        el.classList.add("current");
        const panel = $("transcript-panel");
        if (el.offsetTop < panel.scrollTop || el.offsetTop > panel.scrollTop + panel.clientHeight - 40) {
          panel.scrollTop = el.offsetTop - panel.clientHeight / 3;
        }
      }
      state.current = cur;
      state.currentWord = -1;
    }
    if (cur >= 0) {
      const words = list[cur].words;
      let k = -1;
      for (let j = 0; j < words.length; j++) if (words[j][0] <= state.t && state.t < words[j][1]) k = j;
      if (k !== state.currentWord) {
        const el = box.children[cur];
        const old = el.querySelector(".w.current");
        if (old) old.classList.remove("current");
        if (k >= 0) el.querySelector('.w[data-k="' + k + '"]').classList.add("current");
        state.currentWord = k;
      }
    }
  }

  // ---------- timelines ----------
  function buildTimeline(tracks) {
    state.tracks = tracks;
    const labels = $("track-labels"), lanes = $("lanes");
    const dur = state.duration;
    let labelHtml = "", laneHtml = "", group = null;
    tracks.forEach((tr, i) => {
      const start = tr.group !== group ? " group-start" : "";
      group = tr.group;
      labelHtml += '<div class="track-label' + start + '" title="' + esc(tr.title + (tr.summary ? " — " + tr.summary : "")) +
        '">' + esc(tr.title) + (tr.summary ? " · " + esc(tr.summary) : "") + "</div>";
      let segs = "";
      tr.segments.forEach((s, k) => {
        const left = (100 * s[0]) / dur, width = Math.max((100 * (s[1] - s[0])) / dur, 0.05);
        segs += '<div class="seg" data-track="' + i + '" data-k="' + k + '" style="left:' + left.toFixed(4) +
          "%;width:" + width.toFixed(4) + "%;background:" + colour(s[2]) + '" title="' + esc(s[2]) + " " +
          fmt(s[0]) + "–" + fmt(s[1]) + '">' + esc(s[2]) + "</div>";
      });
      laneHtml += '<div class="lane' + start + '" data-track="' + i + '" data-id="' + esc(tr.id) + '">' + segs + "</div>";
    });
    labels.innerHTML = labelHtml || '<div class="track-label">no timelines</div>';
    lanes.insertAdjacentHTML("beforeend", laneHtml);
    lanes.addEventListener("click", (e) => {
      const seg = e.target.closest(".seg");
      if (seg) {
        const tr = state.tracks[+seg.dataset.track], s = tr.segments[+seg.dataset.k];
        select(seg, tr, s);
        seek(s[0]);
        return;
      }
      const rect = lanes.getBoundingClientRect();
      seek(((e.clientX - rect.left) / rect.width) * state.duration);
    });
    const select_ = $("method");
    const methods = tracks.filter((tr) => tr.group === "prediction");
    for (const tr of methods) {
      const o = document.createElement("option");
      o.value = tr.id;
      o.textContent = tr.task + ": " + tr.title;
      select_.appendChild(o);
    }
    if (!methods.length) {
      const o = document.createElement("option");
      o.textContent = "no predictions";
      select_.appendChild(o);
      select_.disabled = true;
      $("next-disagreement").disabled = true;
      $("prev-disagreement").disabled = true;
    }
    state.method = methods.length ? methods[0].id : null;
    select_.addEventListener("change", () => { state.method = select_.value; select_.blur(); });
  }

  function select(el, tr, s) {
    if (state.selected) state.selected.classList.remove("selected");
    el.classList.add("selected");
    state.selected = el;
    let html = "<h2>" + esc(tr.title) + "</h2><dl><dt>label</dt><dd>" + esc(s[2]) + "</dd><dt>time</dt><dd>" +
      fmt(s[0]) + " – " + fmt(s[1]) + " (" + (s[1] - s[0]).toFixed(2) + " s)</dd>";
    if (s[3]) {
      for (const [k, v] of Object.entries(s[3])) {
        const text = v === null || v === undefined ? "—" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v);
        html += "<dt>" + esc(k.replace(/_/g, " ")) + "</dt><dd>" + (k === "raw_response" ? "<pre>" + esc(text) + "</pre>" : esc(text)) + "</dd>";
      }
    }
    $("detail").innerHTML = html + "</dl>";
  }

  function disagreementStarts() {
    const pred = state.tracks.find((tr) => tr.id === state.method);
    if (!pred) return [];
    const truth = state.tracks.find((tr) => tr.group === "truth" && tr.task === pred.task);
    if (!truth) return [];
    const points = new Set();
    for (const s of pred.segments.concat(truth.segments)) { points.add(s[0]); points.add(s[1]); }
    const differ = (t) => {
      const a = segmentAt(truth.segments, t), b = segmentAt(pred.segments, t);
      return !!(a && b && a[2] !== b[2]);
    };
    return Array.from(points).sort((a, b) => a - b).filter((c) => differ(c + 1e-4) && !differ(c - 1e-4));
  }

  function jumpDisagreement(forward) {
    const starts = disagreementStarts();
    const t = state.t;
    const next = forward ? starts.find((c) => c > t + 1e-3) : starts.slice().reverse().find((c) => c < t - 1e-3);
    if (next !== undefined) seek(next);
  }

  // ---------- metrics ----------
  function buildMetrics(metrics) {
    const box = $("metrics");
    if (!metrics.length) { box.innerHTML = '<p class="empty">No method was scored on this session.</p>'; return; }
    const cols = ["task", "method", "fold", "frames", "accuracy", "macro_f1", "edit", "f1@10", "f1@25", "f1@50"]
      .filter((c) => metrics.some((m) => m[c] !== undefined && m[c] !== null));
    const cell = (v) => (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(1) : v === null || v === undefined ? "—" : String(v));
    box.innerHTML = "<table><thead><tr>" + cols.map((c) => "<th>" + esc(c) + "</th>").join("") + "</tr></thead><tbody>" +
      metrics.map((m) => "<tr>" + cols.map((c) => "<td>" + esc(cell(m[c])) + "</td>").join("") + "</tr>").join("") +
      "</tbody></table><p>Frame-wise accuracy, macro F1, edit score and segmental F1 at 10/25/50 % overlap, in %.</p>";
  }

  // ---------- render ----------
  function render() {
    $("clock").textContent = fmt(state.t) + " / " + fmt(state.duration);
    $("cursor").style.left = ((100 * state.t) / state.duration).toFixed(4) + "%";
    // zoomed in: keep the cursor in view
    const scroller = $("lanes-scroll"), lanes = $("lanes");
    if (lanes.offsetWidth > scroller.clientWidth) {
      const x = (lanes.offsetWidth * state.t) / state.duration;
      if (x < scroller.scrollLeft || x > scroller.scrollLeft + scroller.clientWidth - 20) {
        scroller.scrollLeft = Math.max(0, x - scroller.clientWidth / 3);
      }
    }
    renderTranscript();
    for (const d of state.devices) if (!d.video || d.video.paused || state.playing) drawOverlay(d);
    document.body.dataset.time = state.t.toFixed(3);
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // ---------- keys ----------
  function onKey(e) {
    if (e.target.closest && e.target.closest("input, select, textarea")) return;
    const step = e.shiftKey ? 10 : 1;
    const frame = 0.1;
    switch (e.key) {
      case " ": setPlaying(!state.playing); break;
      case "ArrowRight": seek(state.t + step); break;
      case "ArrowLeft": seek(state.t - step); break;
      case ".": seek(state.t + frame); break;
      case ",": seek(state.t - frame); break;
      case "Home": seek(0); break;
      case "End": seek(state.duration); break;
      case "n": jumpDisagreement(true); break;
      case "p": jumpDisagreement(false); break;
      default: return;
    }
    e.preventDefault();
  }

  // ---------- start ----------
  async function start() {
    const meta = await load("meta", folder + "/meta.js");
    state.meta = meta;
    state.duration = meta.duration_s || 1;
    document.title = "Session " + meta.session + " — egoinstruct explorer";
    $("title").textContent = "Session " + meta.session;
    $("subtitle").textContent = [meta.procedure ? "procedure " + meta.procedure : "", fmt(meta.duration_s) + " long",
      meta.devices.length + " device(s)"].filter(Boolean).join(" · ");
    if (meta.report) $("report-link").innerHTML = '<a href="' + esc(meta.report) + '">back to the report</a>';
    buildVideos(meta);
    buildMetrics(meta.metrics);
    const tracks = await load("tracks", meta.files.tracks);
    buildTimeline(tracks);
    buildTranscript(meta.files.transcript ? await load("transcript", meta.files.transcript) : null);
    // gaze and faces of each shown device, after the page is usable
    // (times come in ms and gaze in tenths of a pixel: integers are quicker to write and parse)
    const scaled = (values, factor) => values.map((x) => (x === null ? null : x / factor));
    await Promise.all(state.devices.map(async (d) => {
      if (d.info.gaze) {
        const g = await load(d.info.gaze, meta.files[d.info.gaze]);
        d.gaze = Object.assign({}, g, { t: scaled(g.t_ms, 1000), u: scaled(g.u_tenths, 10), v: scaled(g.v_tenths, 10) });
      }
      if (d.info.faces) {
        const f = await load(d.info.faces, meta.files[d.info.faces]);
        d.faces = Object.assign({}, f, { t: scaled(f.t_ms, 1000) });
      }
    }));
    $("play").addEventListener("click", () => setPlaying(!state.playing));
    $("next-disagreement").addEventListener("click", () => jumpDisagreement(true));
    $("prev-disagreement").addEventListener("click", () => jumpDisagreement(false));
    $("zoom").addEventListener("input", (e) => { $("lanes").style.width = 100 * +e.target.value + "%"; });
    document.addEventListener("keydown", onKey);
    $("status").textContent = "";
    render();
    document.body.dataset.ready = "1";
  }

  window.egoExplorer = { seek, time: () => state.t, state, disagreementStarts, setPlaying };
  start().catch((err) => {
    $("status").textContent = "The page could not load its data: " + err.message;
    $("status").className = "error";
    document.body.dataset.ready = "error";
  });
})();
