// /docs: Swagger UI over the server's own OpenAPI document. The page's login
// cookie goes with every request it makes ("Try it out" included), so a
// signed-in reader needs no token; a script client uses the bearer token.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
  });
});
