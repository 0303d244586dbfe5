/* The class page's preview (班级中心): the player stops by itself at data-limit seconds and cannot be sought past
   it. The server serves a file cut at the same point (app/workflows/class_centre.py, preview_file), so this is
   the learner's comfort, not the protection. */
(function () {
  var video = document.getElementById("preview-video");
  if (!video) { return; }
  var limit = parseFloat(video.getAttribute("data-limit")) || 180;
  var ended = document.getElementById("preview-end");
  function stop() {
    video.pause();
    if (ended) { ended.classList.remove("hidden"); }
  }
  video.addEventListener("timeupdate", function () {
    if (video.currentTime >= limit) { video.currentTime = limit; stop(); }
  });
  video.addEventListener("seeking", function () {
    if (video.currentTime > limit) { video.currentTime = limit; stop(); }
  });
  video.addEventListener("play", function () {
    if (video.currentTime >= limit) { video.currentTime = 0; if (ended) { ended.classList.add("hidden"); } }
  });
  video.addEventListener("ended", stop);
})();
