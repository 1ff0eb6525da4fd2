// The app portal's link: `/portal#key=<token>`, theme parameters in the query or after the key.
// Trades the key for a session cookie (POST /portal/session), takes it out of the address bar
// and history, then opens the endpoints page. The key never goes into a URL a server sees.
(function () {
  "use strict";
  var fragment = new URLSearchParams(location.hash.slice(1));
  var key = fragment.get("key");
  var form = new URLSearchParams(location.search);
  fragment.forEach(function (value, name) {
    if (name !== "key") form.set(name, value);
  });
  history.replaceState(null, "", location.pathname);
  var status = document.getElementById("portal-status");
  if (!key) {
    location.replace("/portal/endpoints");
    return;
  }
  form.set("key", key);
  fetch("/portal/session", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: form.toString(),
    credentials: "same-origin",
  })
    .then(function (r) {
      if (r.ok) {
        location.replace("/portal/endpoints");
      } else {
        status.textContent =
          "This link has expired or was ended. Open it again from where you found it.";
      }
    })
    .catch(function () {
      status.textContent = "The server could not be reached. Try again.";
    });
})();
