package api

import "github.com/gofiber/fiber/v2"

// mountDocs mounts the client developers' routes: /openapi.yaml and /docs.
func mountDocs(app *fiber.App, d Deps) {}
