// /api/docs: Swagger UI on the vendored bundle. Signed in to the web UI, "Try it out" is authorised by the session
// cookie, and state-changing calls then need the session's CSRF token (mie.web.session); without a session, send
// the key in each request's x-api-key header.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  const csrf = root.dataset.csrf;
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    requestInterceptor: (request) => {
      if (csrf) request.headers["X-CSRF-Token"] = csrf;
      return request;
    },
  });
})();
