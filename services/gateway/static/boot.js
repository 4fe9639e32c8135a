/* Runs first, in <head>: marks the page as scripted (the filter drawer and the map/list toggle need it)
   and opens the main menu on wide screens. */
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var menu = document.getElementById("menu");
  var wide = window.matchMedia("(min-width: 50rem)");
  var sync = function () { if (menu) menu.open = wide.matches; };
  sync();
  if (wide.addEventListener) wide.addEventListener("change", sync);
});
