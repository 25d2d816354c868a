package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// DecodeJSON decodes a request body strictly: malformed JSON is 400
// malformed_json, an unknown field is 422 validation_failed naming it, a wrong
// type is 422 naming the field. It never reads more than the app's body limit.
func DecodeJSON(c *fiber.Ctx, dst any) error {
	return Decode(c.Body(), dst)
}

// Decode is DecodeJSON over raw bytes (the same rules; used by fuzz tests).
func Decode(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return withPath(classifyDecodeError(err), body)
	}
	if dec.More() {
		return NewError(fiber.StatusBadRequest, "malformed_json", "the body must be a single JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return NewError(fiber.StatusBadRequest, "malformed_json", "the body must be a single JSON object")
	}
	return nil
}

func classifyDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return NewError(fiber.StatusBadRequest, "malformed_json", "the body is empty; a JSON object is required")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return NewError(fiber.StatusBadRequest, "malformed_json", fmt.Sprintf("the body is not valid JSON: %v", err))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return NewError(fiber.StatusBadRequest, "malformed_json", "the body must be a JSON object")
		}
		return Validation(map[string]string{field: "must be a " + jsonKind(typeErr.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Validation(map[string]string{field: "unknown field"})
	}
	return NewError(fiber.StatusBadRequest, "malformed_json", fmt.Sprintf("the body is not valid JSON: %v", err))
}

// withPath names an unknown field by its dotted path ("customer.email"):
// encoding/json reports only the key.
func withPath(err error, body []byte) error {
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) != 1 {
		return err
	}
	for key, msg := range e.Fields {
		if msg != "unknown field" || strings.Contains(key, ".") {
			return err
		}
		var doc any
		if json.Unmarshal(body, &doc) != nil {
			return err
		}
		if p := findKey(doc, key, ""); p != "" && p != key {
			return Validation(map[string]string{p: msg})
		}
	}
	return err
}

// findKey returns the dotted path of the first object key named key, breadth first.
func findKey(doc any, key, prefix string) string {
	m, ok := doc.(map[string]any)
	if !ok {
		return ""
	}
	if _, ok := m[key]; ok {
		return prefix + key
	}
	for k, v := range m {
		if p := findKey(v, key, prefix+k+"."); p != "" {
			return p
		}
	}
	return ""
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return "number"
}
