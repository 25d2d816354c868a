package httpserver

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// MaxPageSize bounds ?size so one request cannot ask for the whole table.
const MaxPageSize = 100

// Page is the envelope of every paginated list.
type Page[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Size  int `json:"size"`
	Pages int `json:"pages"`
}

// NewPage fills the envelope; items is never null in JSON.
func NewPage[T any](items []T, total, page, size int) Page[T] {
	if items == nil {
		items = []T{}
	}
	pages := 0
	if size > 0 {
		pages = (total + size - 1) / size
	}
	return Page[T]{Items: items, Total: total, Page: page, Size: size, Pages: pages}
}

// PageParams reads ?page (≥1, default 1) and ?size (1..100, default 20).
func PageParams(c *fiber.Ctx) (page, size int, err error) {
	fields := map[string]string{}
	page, size = 1, 20
	if v := c.Query("page"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > 1_000_000 {
			fields["page"] = "must be an integer ≥ 1"
		} else {
			page = n
		}
	}
	if v := c.Query("size"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > MaxPageSize {
			fields["size"] = "must be an integer between 1 and 100"
		} else {
			size = n
		}
	}
	if len(fields) > 0 {
		return 0, 0, Validation(fields)
	}
	return page, size, nil
}
