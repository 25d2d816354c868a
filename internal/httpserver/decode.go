package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// DecodeJSON decodes a request body strictly: a body not sent as JSON is 415,
// malformed JSON (or not UTF-8) is 400 malformed_json, an unknown field, a key
// in another case, a duplicated key, a NUL in a string or a wrong type is 422
// validation_failed naming the field. It reads the body as received (encoded
// bodies are refused at the edge) and never more than the app's body limit.
func DecodeJSON(c *fiber.Ctx, dst any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	return Decode(c.BodyRaw(), dst)
}

// Decode is DecodeJSON over raw bytes (the same rules; used by fuzz tests).
func Decode(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return NewError(fiber.StatusBadRequest, "malformed_json", "the body is not valid UTF-8")
	}
	// encoding/json matches keys case-insensitively and lets a repeated key
	// win silently; the contract wants neither, so keys are checked first.
	if err := checkKeys(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
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

// checkKeys walks the JSON tokens of body against the Go type it will be
// decoded into: every object key must be unique and, for structs, spelled
// exactly as the json tag; no string may contain NUL (Postgres refuses it).
// Syntax errors are left to the decoder, which reports them better.
func checkKeys(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walkValue(dec, t, ""); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
	}
	return nil
}

func walkValue(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			return Validation(map[string]string{nonEmpty(path): "must not contain NUL characters"})
		}
	case json.Delim:
		switch v {
		case '{':
			fields := structFields(t)
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				p := key
				if path != "" {
					p = path + "." + key
				}
				if strings.ContainsRune(key, 0) {
					return Validation(map[string]string{nonEmpty(path): "keys must not contain NUL characters"})
				}
				if seen[key] {
					return Validation(map[string]string{p: "duplicated key"})
				}
				seen[key] = true
				var ft reflect.Type
				if fields != nil {
					f, ok := fields[key]
					if !ok {
						for name := range fields {
							if strings.EqualFold(name, key) {
								return Validation(map[string]string{p: "unknown field (keys are case-sensitive: " + name + ")"})
							}
						}
					}
					ft = f
				} else if t != nil && t.Kind() == reflect.Map {
					ft = t.Elem()
				}
				if err := walkValue(dec, ft, p); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // '}'
				return err
			}
		case '[':
			var et reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				et = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := walkValue(dec, et, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return err
			}
		}
	}
	return nil
}

func nonEmpty(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// structFields maps the JSON names of a struct's fields to their types (nil
// for non-structs). Embedded structs contribute their fields.
func structFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range structFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
