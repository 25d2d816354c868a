package api

import "github.com/gofiber/fiber/v2"

// mountOps mounts the operator routes: /metrics and /monitoring (Asynqmon).
func mountOps(app *fiber.App, d Deps) {}
