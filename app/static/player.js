/* The lesson player (issue 11): plays the video, reports heartbeats, keeps the learner from seeking past the
   furthest point the server has credited, pauses at pop-up questions until they are answered right.
   The server is the judge of progress: this script only makes the page behave; nothing it sends can add more
   than the wall-clock time spent. No inline scripts (CSP). */
(function () {
  "use strict";
  var video = document.getElementById("player");
  if (!video) { return; }
  var BEAT_MS = 5000;
  var SLACK = 1.5;  // seconds a seek may go past the furthest point reached (timeupdate granularity)
  var data = video.dataset;
  var enrolmentId = data.enrolment, lessonId = data.lesson;
  var duration = parseFloat(data.duration) || 0;
  var credited = parseFloat(data.watched) || 0;   // the server's credited point
  var completed = data.completed === "true";
  var csrf = data.csrf;
  var reached = credited;                          // furthest point played in this page (at normal speed)
  var lastTime = 0, seekingBack = false, inFlight = false, timer = null;
  var payload = JSON.parse(document.getElementById("popups-data").textContent || "{}");
  var popups = (payload.popups || []).slice().sort(function (a, b) { return a.at - b.at; });
  var answered = {};
  (payload.answered || []).forEach(function (id) { answered[id] = true; });
  var current = null;  // the pop-up being shown
  var bar = document.getElementById("credited-bar");
  var status = document.getElementById("player-status");
  var modal = document.getElementById("popup");
  var form = document.getElementById("popup-form");

  function showProgress(percent) {
    bar.style.width = percent + "%";
    bar.setAttribute("aria-valuenow", percent);
    // no text inside the bar (white on its empty track is unreadable): the status line below says the percentage
    bar.setAttribute("aria-valuetext", percent + "%");
    if (completed) {
      bar.classList.add("progress-bar-success");
      status.textContent = status.dataset.done;
      document.getElementById("after-lesson").classList.remove("hidden");
    } else {
      status.textContent = status.dataset.watched.replace("{p}", percent);
    }
  }

  function percentOf(watched) {
    if (completed) { return 100; }
    return duration > 0 ? Math.min(99, Math.floor(watched * 100 / duration)) : 0;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "X-Requested-With": "XMLHttpRequest",
                "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) {
        if (json.csrf) { csrf = json.csrf; }
        json.ok = response.ok;
        return json;
      });
    });
  }

  function gate() {  // the first unanswered pop-up: playing may not pass it
    for (var i = 0; i < popups.length; i++) {
      if (!answered[popups[i].id]) { return popups[i]; }
    }
    return null;
  }

  function beat() {
    if (inFlight || completed && credited >= duration - 1) { return Promise.resolve(null); }
    inFlight = true;
    var position = video.currentTime;
    return post(data.beatUrl, {enrolment_id: enrolmentId, lesson_id: lessonId, position: position})
      .then(function (json) {
        inFlight = false;
        if (!json.ok) { status.textContent = json.error || status.dataset.offline; return json; }
        credited = Math.max(credited, json.watched);
        if (json.completed) { completed = true; }
        if (!json.accepted && json.snap_to !== null) {
          status.textContent = json.message;
          reached = json.snap_to;
          seekingBack = true;
          video.currentTime = json.snap_to;
        }
        showProgress(json.percent);
        return json;
      })
      .catch(function () { inFlight = false; status.textContent = status.dataset.offline; });
  }

  function schedule() {
    if (timer === null) { timer = window.setInterval(beat, BEAT_MS); }
  }

  function unschedule() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
  }

  // ---- pop-up questions
  function showPopup(q) {
    current = q;
    video.pause();
    document.getElementById("popup-text").textContent = q.text;
    var box = document.getElementById("popup-options");
    box.textContent = "";
    var type = q.kind === "multiple" ? "checkbox" : "radio";
    q.options.forEach(function (text, index) {
      var div = document.createElement("div");
      div.className = type;
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = type; input.name = "choice"; input.value = index;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + text));
      div.appendChild(label);
      box.appendChild(div);
    });
    document.getElementById("popup-error").textContent = "";
    modal.classList.remove("hidden");
    var first = box.querySelector("input");
    if (first) { first.focus(); }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { return; }
    var choice = [];
    form.querySelectorAll("input[name=choice]:checked").forEach(function (input) { choice.push(parseInt(input.value, 10)); });
    var q = current;
    beat().then(function () {
      return post(data.popupUrl, {enrolment_id: enrolmentId, question_id: q.id, choice: choice});
    }).then(function (json) {
      if (json.ok && json.correct) {
        answered[q.id] = true;
        current = null;
        modal.classList.add("hidden");
        if (json.completed) { completed = true; }
        showProgress(json.percent);
        video.play();
      } else {
        document.getElementById("popup-error").textContent = json.message || json.error || "";
      }
    });
  });

  // ---- playing, seeking, speed
  video.addEventListener("loadedmetadata", function () {
    if (!duration && video.duration) { duration = video.duration; }
    if (!completed && credited > 0 && credited < duration - 1) {
      seekingBack = true;
      video.currentTime = credited;  // resume where the credit stands
    }
  });

  video.addEventListener("timeupdate", function () {
    // a seek is judged by the "seeking" handler: a timeupdate queued before it (a busy page) would otherwise see
    // the seek's target, take it for playing and stop at a pop-up the seek is about to be snapped back from
    if (video.seeking) { return; }
    var t = video.currentTime;
    if (t > reached && t - lastTime < SLACK) { reached = t; }
    lastTime = t;
    var q = gate();
    if (q && !completed && t >= q.at && !current) {
      seekingBack = true;
      video.currentTime = q.at;
      showPopup(q);
    }
  });

  video.addEventListener("seeking", function () {
    if (seekingBack) { seekingBack = false; lastTime = video.currentTime; return; }
    if (completed) { lastTime = video.currentTime; return; }
    var limit = Math.max(credited, reached);
    var q = gate();
    if (q) { limit = Math.min(limit, q.at); }
    if (video.currentTime > limit + SLACK) {
      seekingBack = true;
      video.currentTime = limit;  // snap back: forward seeking is not allowed past the furthest point
    }
    lastTime = video.currentTime;
  });

  video.addEventListener("ratechange", function () {
    if (video.playbackRate !== 1) { video.playbackRate = 1; }  // the server would not credit it anyway
  });

  video.addEventListener("play", function () {
    if (current) { video.pause(); return; }
    beat();
    schedule();
  });
  video.addEventListener("pause", function () { unschedule(); beat(); });
  video.addEventListener("ended", function () { unschedule(); beat(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { beat(); }
  });

  showProgress(percentOf(credited));
})();
