// Start Swagger UI on /api/docs. "Try it out" with the browser session sends the CSRF token;
// with a token, use "Authorize" and paste it as the bearer value.
const config = JSON.parse(document.getElementById("swagger-settings").textContent);
const csrfToken = document.body.dataset.csrfToken;
config.dom_id = "#swagger-ui";
config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
config.requestInterceptor = (req) => {
  if (csrfToken) req.headers["X-CSRFToken"] = csrfToken;
  return req;
};
SwaggerUIBundle(config);
