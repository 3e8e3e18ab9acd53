// kyphos landmark annotator: a canvas viewer of one radiograph and guided placement of a
// vertebra's landmarks. Every point is kept in FULL-RESOLUTION image pixels (x right,
// y down), whatever display level is drawn, the zoom, the pan or the screen's pixel
// ratio. The values come from the server (/radiographs/{id}/readout: kyphos.clinical),
// never from a second copy of the formulas here. No texts of its own: the page gives them.
(function () {
  "use strict";
  var root = document.getElementById("annotator");
  var stateNode = document.getElementById("annotator-state");
  if (!root || !stateNode) { return; }
  var state = JSON.parse(stateNode.textContent);
  var radiograph = state.radiograph;
  var texts = state.texts;
  var csrfToken = root.getAttribute("data-csrf");
  var base = "/radiographs/" + radiograph.id;
  var stage = document.getElementById("stage");
  var canvas = document.getElementById("annotator-canvas");
  var ctx = canvas.getContext("2d");

  var SLOTS = ["sa", "sp", "ia", "ip", "sm", "im", "above.0", "above.1", "below.0", "below.1"];
  var PAIRS = { "sm": ["sm", "im"], "im": ["sm", "im"], "above.0": ["above.0", "above.1"],
    "above.1": ["above.0", "above.1"], "below.0": ["below.0", "below.1"],
    "below.1": ["below.0", "below.1"] };
  var HIT_RADIUS = 9;      // CSS pixels around a point that grab it for dragging
  var DRAG_THRESHOLD = 4;  // CSS pixels a press may move and still be a click
  var ZOOM_STEP = 1.25;
  var ZOOM_MIN = 0.02;
  var ZOOM_MAX = 40;
  var PAN_STEP = 40;
  var READOUT_DELAY_MS = 250;

  // --- the view: zoom is CSS pixels per full-resolution image pixel ----------------------------
  var view = { zoom: 1, panX: 0, panY: 0 };
  var adjust = { brightness: 100, contrast: 100, invert: false };
  var shown = { image: null, level: -1, scale: 1 };  // the display level being drawn
  var loading = -1;

  function stageSize() {
    var rect = canvas.getBoundingClientRect();
    return { width: rect.width, height: rect.height, left: rect.left, top: rect.top };
  }

  function resize() {
    var size = stageSize();
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(size.width * ratio));
    canvas.height = Math.max(1, Math.round(size.height * ratio));
    draw();
  }

  function fit() {
    var size = stageSize();
    view.zoom = Math.min(size.width / radiograph.width, size.height / radiograph.height);
    view.panX = (size.width - radiograph.width * view.zoom) / 2;
    view.panY = (size.height - radiograph.height * view.zoom) / 2;
    changed();
  }

  function zoomAround(factor, sx, sy) {
    var zoom = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, view.zoom * factor));
    var ix = (sx - view.panX) / view.zoom;
    var iy = (sy - view.panY) / view.zoom;
    view.zoom = zoom;
    view.panX = sx - ix * zoom;
    view.panY = sy - iy * zoom;
    changed();
  }

  function zoomCentre(factor) {
    var size = stageSize();
    zoomAround(factor, size.width / 2, size.height / 2);
  }

  function pan(dx, dy) {
    view.panX += dx;
    view.panY += dy;
    changed();
  }

  // The smallest display level with at least one display pixel per device pixel.
  function wantedLevel() {
    var needed = radiograph.width * view.zoom * (window.devicePixelRatio || 1);
    var chosen = 0;
    radiograph.levels.forEach(function (size, index) {
      if (size[0] >= needed) { chosen = index; }
    });
    return chosen;
  }

  function load(level) {
    if (level === shown.level || level === loading) { return; }
    loading = level;
    var image = new Image();
    image.onload = function () {
      if (loading !== level) { return; }
      loading = -1;
      shown = { image: image, level: level, scale: radiograph.width / image.naturalWidth };
      root.setAttribute("data-level", String(level));
      root.setAttribute("data-ready", "true");
      draw();
    };
    image.src = base + "/display/" + level + ".png";
  }

  function changed() {
    load(wantedLevel());
    draw();
  }

  function clientToImage(clientX, clientY) {
    var size = stageSize();
    return [(clientX - size.left - view.panX) / view.zoom,
      (clientY - size.top - view.panY) / view.zoom];
  }

  function imageToStage(point) {
    return [view.panX + point[0] * view.zoom, view.panY + point[1] * view.zoom];
  }

  // --- the reading: points per vertebra level, per slot -----------------------------------------
  var reading = state.reading;
  var readOnly = !reading || reading.submitted;
  var version = reading ? reading.version : 0;
  var points = {};   // level -> slot -> [x, y]
  var skipped = {};  // level -> slot -> true
  var history = [];
  var future = [];
  var levelSelect = document.getElementById("vertebra");
  var current = levelSelect ? levelSelect.value : "";

  function slotsOf(landmarks) {
    var out = {};
    Object.keys(landmarks || {}).forEach(function (key) {
      var value = landmarks[key];
      if (key === "above" || key === "below") {
        out[key + ".0"] = value[0].slice();
        out[key + ".1"] = value[1].slice();
      } else {
        out[key] = value.slice();
      }
    });
    return out;
  }

  function landmarksOf(slots) {
    var out = {};
    SLOTS.forEach(function (slot) {
      if (!slots[slot] || slot.indexOf(".") >= 0) { return; }
      out[slot] = slots[slot];
    });
    ["above", "below"].forEach(function (name) {
      if (slots[name + ".0"] && slots[name + ".1"]) {
        out[name] = [slots[name + ".0"], slots[name + ".1"]];
      }
    });
    return out;
  }

  function allLandmarks() {
    var out = {};
    Object.keys(points).forEach(function (level) {
      var marks = landmarksOf(points[level]);
      if (Object.keys(marks).length) { out[level] = marks; }
    });
    return out;
  }

  if (reading) {
    Object.keys(reading.landmarks || {}).forEach(function (level) {
      points[level] = slotsOf(reading.landmarks[level]);
    });
    var started = Object.keys(reading.landmarks || {});
    if (levelSelect && started.length && !points[current]) {
      levelSelect.value = started[0];
      current = levelSelect.value;
    }
  }

  function here() {
    if (!points[current]) { points[current] = {}; }
    if (!skipped[current]) { skipped[current] = {}; }
    return points[current];
  }

  function nextSlot() {
    var slots = here();
    for (var i = 0; i < SLOTS.length; i += 1) {
      if (!slots[SLOTS[i]] && !skipped[current][SLOTS[i]]) { return SLOTS[i]; }
    }
    return null;
  }

  function snapshot() {
    return JSON.stringify({ points: points, skipped: skipped });
  }

  function remember() {
    history.push(snapshot());
    future = [];
  }

  function restore(saved) {
    var parsed = JSON.parse(saved);
    points = parsed.points;
    skipped = parsed.skipped;
    edited();
  }

  function undo() {
    if (readOnly || !history.length) { return; }
    future.push(snapshot());
    restore(history.pop());
  }

  function redo() {
    if (readOnly || !future.length) { return; }
    history.push(snapshot());
    restore(future.pop());
  }

  function skip() {
    var slot = nextSlot();
    if (readOnly || !slot || !PAIRS[slot]) { return; }
    remember();
    PAIRS[slot].forEach(function (name) {
      if (!here()[name]) { skipped[current][name] = true; }
    });
    edited();
  }

  // --- calibration: two clicks and a known length -----------------------------------------------
  var calibration = null;  // null, or {first, second}
  var calibrateButton = document.getElementById("calibrate");
  var knownField = document.getElementById("known-length-field");
  var knownInput = document.getElementById("known-mm");
  var applyButton = document.getElementById("calibrate-apply");

  function calibrationClick(point) {
    if (!calibration.first) {
      calibration.first = point;
    } else {
      calibration.second = point;
      if (knownField) { knownField.hidden = false; }
      if (applyButton) { applyButton.hidden = false; }
      if (knownInput) { knownInput.focus(); }
    }
    prompt();
    draw();
  }

  function applyCalibration() {
    if (!calibration || !calibration.second) { return; }
    var known = Number(String(knownInput.value).replace(",", "."));
    send("POST", base + "/calibration", {
      first: calibration.first, second: calibration.second, known_mm: known,
      version: radiograph.version
    }, function (answer) {
      radiograph = Object.assign(radiograph, answer);
      calibration = null;
      knownField.hidden = true;
      applyButton.hidden = true;
      var note = document.getElementById("calibration-state");
      var source = texts.spacing_sources[answer.spacing_source] || answer.spacing_source || "";
      note.textContent = answer.spacing_mm[0].toFixed(4) + " × " + answer.spacing_mm[1].toFixed(4) +
        " mm/" + texts.pixel + " (" + source + ")";
      prompt();
      draw();
      askReadout();
    });
  }

  // --- drawing --------------------------------------------------------------------------------
  var COLOURS = { own: "#ffcc00", other: "#7fb2ff", line: "rgba(255, 204, 0, 0.8)" };

  function filterText() {
    return "brightness(" + adjust.brightness + "%) contrast(" + adjust.contrast + "%)" +
      (adjust.invert ? " invert(1)" : "");
  }

  function dot(point, colour, radius) {
    var at = imageToStage(point);
    ctx.beginPath();
    ctx.arc(at[0], at[1], radius, 0, 2 * Math.PI);
    ctx.fillStyle = colour;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#000";
    ctx.stroke();
  }

  function line(a, b, colour) {
    var from = imageToStage(a);
    var to = imageToStage(b);
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }

  function drawLevel(slots, colour) {
    var ring = ["sa", "sp", "ip", "ia"];
    for (var i = 0; i < ring.length; i += 1) {
      var a = slots[ring[i]];
      var b = slots[ring[(i + 1) % ring.length]];
      if (a && b) { line(a, b, colour); }
    }
    ["above", "below"].forEach(function (name) {
      if (slots[name + ".0"] && slots[name + ".1"]) {
        line(slots[name + ".0"], slots[name + ".1"], colour);
      }
    });
    SLOTS.forEach(function (slot) {
      if (slots[slot]) { dot(slots[slot], colour, 4); }
    });
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.filter = "none";
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (shown.image) {
      var k = view.zoom * shown.scale * ratio;
      ctx.setTransform(k, 0, 0, k, view.panX * ratio, view.panY * ratio);
      ctx.imageSmoothingEnabled = view.zoom * shown.scale * ratio < 2;
      ctx.filter = filterText();
      ctx.drawImage(shown.image, 0, 0);
      ctx.filter = "none";
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    Object.keys(points).forEach(function (level) {
      if (level !== current) { drawLevel(points[level], COLOURS.other); }
    });
    if (points[current]) { drawLevel(points[current], COLOURS.own); }
    if (calibration) {
      [calibration.first, calibration.second].forEach(function (p) {
        if (p) { dot(p, "#4cd964", 4); }
      });
      if (calibration.first && calibration.second) {
        line(calibration.first, calibration.second, "#4cd964");
      }
    }
  }

  // --- prompt and read-out ----------------------------------------------------------------------
  var promptNode = document.getElementById("prompt");
  var skipButton = document.getElementById("skip");

  function prompt() {
    if (!promptNode) { return; }
    if (calibration) {
      promptNode.textContent = calibration.first ? (calibration.second ?
        texts.calibrate_length : texts.calibrate_second) : texts.calibrate_first;
      return;
    }
    if (readOnly) {
      promptNode.textContent = reading && reading.submitted ? texts.submitted : "";
      return;
    }
    var slot = nextSlot();
    promptNode.textContent = slot ? texts.place.replace("{point}", texts.points[slot]) : texts.done;
    promptNode.setAttribute("data-slot", slot || "");
    if (skipButton) { skipButton.disabled = !slot || !PAIRS[slot]; }
  }

  function fixed(value, decimals, unit) {
    if (value === null || value === undefined) { return "—"; }
    return value.toFixed(decimals) + (unit || "");
  }

  function show(name, value, text) {
    var node = document.getElementById("out-" + name);
    if (!node) { return; }
    node.textContent = text;
    if (value === null || value === undefined) {
      node.removeAttribute("data-value");
    } else {
      node.setAttribute("data-value", String(value));
    }
  }

  function showReadout(values) {
    show("anterior_height_mm", values.anterior_height_mm, fixed(values.anterior_height_mm, 1, " mm"));
    show("middle_height_mm", values.middle_height_mm, fixed(values.middle_height_mm, 1, " mm"));
    show("posterior_height_mm", values.posterior_height_mm,
      fixed(values.posterior_height_mm, 1, " mm"));
    show("wedge_ratio", values.wedge_ratio, fixed(values.wedge_ratio, 2));
    show("biconcavity_ratio", values.biconcavity_ratio, fixed(values.biconcavity_ratio, 2));
    show("wedge_angle_deg", values.wedge_angle_deg, fixed(values.wedge_angle_deg, 1, "°"));
    show("kyphotic_angle_deg", values.kyphotic_angle_deg, fixed(values.kyphotic_angle_deg, 1, "°"));
    show("height_loss_percent", values.height_loss_percent,
      fixed(values.height_loss_percent, 0, " %"));
    show("genant_grade", values.genant_grade,
      values.genant_grade === null || values.genant_grade === undefined ? "—" :
        String(values.genant_grade));
    var restored = values.restoration;
    show("restoration", restored ? restored.absolute_mm : null,
      restored ? fixed(restored.absolute_mm, 1, " mm") : "—");
    var note = document.getElementById("readout-note");
    if (note) { note.textContent = values.calibrated ? "" : texts.not_calibrated; }
    var list = document.getElementById("readout-problems");
    if (list) {
      list.textContent = "";
      (values.problems || []).forEach(function (problem) {
        var item = document.createElement("li");
        item.textContent = problem.msg;
        list.appendChild(item);
      });
    }
  }

  var readoutTimer = null;
  var readoutTicket = 0;

  function askReadout() {
    if (!reading || !current) { return; }
    root.setAttribute("data-readout", "pending");
    window.clearTimeout(readoutTimer);
    readoutTimer = window.setTimeout(function () {
      readoutTicket += 1;
      var ticket = readoutTicket;
      send("POST", base + "/readout", { level: current, landmarks: landmarksOf(here()) },
        function (values) {
          if (ticket !== readoutTicket) { return; }
          showReadout(values);
          root.setAttribute("data-readout", "done");
        }, function () {
          if (ticket === readoutTicket) { root.setAttribute("data-readout", "failed"); }
        }, true);
    }, READOUT_DELAY_MS);
  }

  function edited() {
    prompt();
    draw();
    askReadout();
  }

  // --- the server -----------------------------------------------------------------------------
  var saveState = document.getElementById("save-state");

  function say(text) {
    if (saveState) { saveState.textContent = text; }
  }

  function send(method, url, body, done, failed, quiet) {
    fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
        "X-CSRF-Token": csrfToken },
      body: JSON.stringify(body)
    }).then(function (answer) {
      return answer.json().then(function (payload) {
        if (answer.ok) {
          done(payload);
          return;
        }
        var messages = (payload.detail || []).map(function (d) { return d.msg; }).join("; ");
        if (!quiet || answer.status !== 422) { say(texts.error + " " + messages); }
        if (quiet && answer.status === 422) { showProblems(messages); }
        if (failed) { failed(answer.status, messages); }
      });
    }).catch(function () {
      say(texts.offline);
      if (failed) { failed(0, texts.offline); }
    });
  }

  function showProblems(messages) {
    var list = document.getElementById("readout-problems");
    if (!list) { return; }
    list.textContent = "";
    var item = document.createElement("li");
    item.textContent = messages;
    list.appendChild(item);
  }

  function saveDraft(then) {
    send("PUT", base + "/reading", { landmarks: allLandmarks(), version: version },
      function (answer) {
        version = answer.version;
        say(texts.saved);
        root.setAttribute("data-saved-version", String(version));
        if (then) { then(); }
      });
  }

  function submitReading() {
    if (!window.confirm(texts.confirm_submit)) { return; }
    saveDraft(function () {
      send("POST", base + "/submit", { version: version }, function (answer) {
        version = answer.version;
        reading.submitted = true;
        readOnly = true;
        ["save-draft", "submit-reading", "skip", "undo", "redo", "calibrate"].forEach(function (id) {
          var button = document.getElementById(id);
          if (button) { button.disabled = true; }
        });
        say(texts.submitted);
        root.setAttribute("data-submitted", "true");
        prompt();
      });
    });
  }

  // --- pointer input: click to place, drag a point to move it, drag elsewhere to pan ------------
  var pointers = {};
  var press = null;  // {id, x, y, moved, grabbed, panX, panY}
  var pinch = null;

  function stagePoint(event) {
    var size = stageSize();
    return [event.clientX - size.left, event.clientY - size.top];
  }

  function grab(at) {
    if (readOnly || !points[current]) { return null; }
    var best = null;
    var bestDistance = HIT_RADIUS;
    SLOTS.forEach(function (slot) {
      var p = points[current][slot];
      if (!p) { return; }
      var s = imageToStage(p);
      var distance = Math.hypot(s[0] - at[0], s[1] - at[1]);
      if (distance <= bestDistance) {
        best = slot;
        bestDistance = distance;
      }
    });
    return best;
  }

  canvas.addEventListener("pointerdown", function (event) {
    canvas.setPointerCapture(event.pointerId);
    pointers[event.pointerId] = stagePoint(event);
    var ids = Object.keys(pointers);
    if (ids.length === 2) {
      var a = pointers[ids[0]];
      var b = pointers[ids[1]];
      pinch = { distance: Math.hypot(a[0] - b[0], a[1] - b[1]) || 1 };
      press = null;
      return;
    }
    var at = stagePoint(event);
    press = { id: event.pointerId, x: at[0], y: at[1], moved: false, grabbed: grab(at),
      panX: view.panX, panY: view.panY };
    if (press.grabbed) { remember(); }
    stage.focus({ preventScroll: true });
  });

  canvas.addEventListener("pointermove", function (event) {
    var at = stagePoint(event);
    var position = clientToImage(event.clientX, event.clientY);
    var positionNode = document.getElementById("pointer-position");
    if (positionNode) {
      positionNode.textContent = "x " + position[0].toFixed(1) + ", y " + position[1].toFixed(1);
    }
    if (pointers[event.pointerId]) { pointers[event.pointerId] = at; }
    var ids = Object.keys(pointers);
    if (pinch && ids.length === 2) {
      var a = pointers[ids[0]];
      var b = pointers[ids[1]];
      var distance = Math.hypot(a[0] - b[0], a[1] - b[1]) || 1;
      zoomAround(distance / pinch.distance, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
      pinch.distance = distance;
      return;
    }
    if (!press || press.id !== event.pointerId) { return; }
    if (Math.hypot(at[0] - press.x, at[1] - press.y) > DRAG_THRESHOLD) { press.moved = true; }
    if (!press.moved) { return; }
    if (press.grabbed) {
      here()[press.grabbed] = clientToImage(event.clientX, event.clientY);
      draw();
    } else {
      view.panX = press.panX + at[0] - press.x;
      view.panY = press.panY + at[1] - press.y;
      changed();
    }
  });

  function release(event) {
    delete pointers[event.pointerId];
    if (Object.keys(pointers).length < 2) { pinch = null; }
    if (!press || press.id !== event.pointerId) { return; }
    var done = press;
    press = null;
    if (done.grabbed) {
      if (done.moved) { edited(); } else { history.pop(); }
      return;
    }
    if (done.moved || event.type === "pointercancel") { return; }
    var point = clientToImage(event.clientX, event.clientY);
    if (calibration) {
      calibrationClick(point);
      return;
    }
    var slot = readOnly ? null : nextSlot();
    if (!slot) { return; }
    remember();
    here()[slot] = point;
    edited();
  }

  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    var at = stagePoint(event);
    var delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    zoomAround(Math.exp(-delta * 0.0015), at[0], at[1]);
  }, { passive: false });

  // --- keys and controls ----------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" ||
      target.tagName === "TEXTAREA")) { return; }
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && (key === "z" || key === "Z")) {
      if (event.shiftKey) { redo(); } else { undo(); }
    } else if ((event.ctrlKey || event.metaKey) && (key === "y" || key === "Y")) {
      redo();
    } else if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    } else if (key === "+" || key === "=") {
      zoomCentre(ZOOM_STEP);
    } else if (key === "-" || key === "_") {
      zoomCentre(1 / ZOOM_STEP);
    } else if (key === "0") {
      fit();
    } else if (key === "ArrowLeft") {
      pan(PAN_STEP, 0);
    } else if (key === "ArrowRight") {
      pan(-PAN_STEP, 0);
    } else if (key === "ArrowUp") {
      pan(0, PAN_STEP);
    } else if (key === "ArrowDown") {
      pan(0, -PAN_STEP);
    } else if (key === "i" || key === "I") {
      setInvert(!adjust.invert);
    } else if (key === "s" || key === "S") {
      skip();
    } else {
      return;
    }
    event.preventDefault();
  });

  function on(id, type, handler) {
    var node = document.getElementById(id);
    if (node) { node.addEventListener(type, handler); }
    return node;
  }

  function setInvert(value) {
    adjust.invert = value;
    var box = document.getElementById("invert");
    if (box) { box.checked = value; }
    draw();
  }

  on("zoom-in", "click", function () { zoomCentre(ZOOM_STEP); });
  on("zoom-out", "click", function () { zoomCentre(1 / ZOOM_STEP); });
  on("reset-view", "click", fit);
  on("brightness", "input", function (event) {
    adjust.brightness = Number(event.target.value);
    draw();
  });
  on("contrast", "input", function (event) {
    adjust.contrast = Number(event.target.value);
    draw();
  });
  on("invert", "change", function (event) { setInvert(event.target.checked); });
  on("skip", "click", skip);
  on("undo", "click", undo);
  on("redo", "click", redo);
  on("save-draft", "click", function () { saveDraft(null); });
  on("submit-reading", "click", submitReading);
  on("calibrate-apply", "click", applyCalibration);
  if (calibrateButton) {
    calibrateButton.addEventListener("click", function () {
      calibration = { first: null, second: null };
      prompt();
    });
  }
  if (levelSelect) {
    levelSelect.addEventListener("change", function () {
      current = levelSelect.value;
      edited();
    });
  }
  if (readOnly) {
    ["skip", "undo", "redo"].forEach(function (id) {
      var button = document.getElementById(id);
      if (button) { button.disabled = true; }
    });
  }

  window.addEventListener("resize", resize);

  // For tests and scripts: the view, and where an image pixel is on the screen (client
  // CSS pixels). Placing points still takes a click.
  window.kyphosAnnotator = {
    view: function () {
      return { zoom: view.zoom, panX: view.panX, panY: view.panY, level: shown.level,
        scale: shown.scale };
    },
    imageToScreen: function (x, y) {
      var size = stageSize();
      var at = imageToStage([x, y]);
      return { x: size.left + at[0], y: size.top + at[1] };
    }
  };

  resize();
  fit();
  prompt();
  if (reading && current) {
    if (reading.readouts && reading.readouts[current]) {
      showReadout(reading.readouts[current]);
      root.setAttribute("data-readout", "done");
    } else {
      askReadout();
    }
  }
}());
