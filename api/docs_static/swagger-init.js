// Starts Swagger UI on /docs. A file of its own, not an inline script: the page's
// Content-Security-Policy runs scripts from this server only.
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // No call to the public validator: the page works offline.
  validatorUrl: null,
});
