/* The embeddable map (/embed): the partner's colour (6 hex digits, checked by the server) becomes the
   page's accent; set through the CSSOM, which the Content-Security-Policy allows (no inline style). */
(function () {
  "use strict";
  var colour = document.body.getAttribute("data-colour");
  if (/^[0-9a-f]{6}$/.test(colour || "")) {
    document.documentElement.style.setProperty("--accent", "#" + colour);
    document.documentElement.style.setProperty("--accent-dark", "#" + colour);
  }
})();
