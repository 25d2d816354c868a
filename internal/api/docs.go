package api

import (
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/httpserver"
	"github.com/banesco-verifier/verifier/openapi"
)

// docsAssets are the files /docs/{file} serves; anything else is 404.
var docsAssets = []string{"swagger-ui-bundle.js", "swagger-ui.css", "docs.js", "favicon-32x32.png"}

// mountDocs mounts the client developers' routes: /openapi.yaml (the spec) and
// /docs (Swagger UI, embedded, so nothing comes from a CDN). The page loads its
// initializer from docs.js, so the CSP's script-src 'self' holds. These routes
// are not rate limited: they are static and cheap.
func mountDocs(app *fiber.App, _ Deps) {
	spec := openapi.Spec()
	ui := openapi.UI()
	index, err := fs.ReadFile(ui, "index.html")
	if err != nil {
		panic("api: docs page missing from the embedded UI: " + err.Error())
	}
	assets := make(map[string][]byte, len(docsAssets))
	for _, name := range docsAssets {
		b, err := fs.ReadFile(ui, name)
		if err != nil {
			panic("api: docs asset missing from the embedded UI: " + err.Error())
		}
		assets[name] = b
	}

	app.Get("/openapi.yaml", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(spec)
	})
	app.Get("/docs", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(index)
	})
	app.Get("/docs/:file", func(c *fiber.Ctx) error {
		name := c.Params("file")
		body, ok := assets[name]
		if !ok {
			return httpserver.ErrNotFound
		}
		c.Set(fiber.HeaderContentType, assetType(name))
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		return c.Send(body)
	})
}

// assetType is the Content-Type of a docs asset, without charset parameters
// for binary files.
func assetType(name string) string {
	switch ext := path.Ext(name); ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return strings.TrimSpace(t)
		}
		return fiber.MIMEOctetStream
	}
}
