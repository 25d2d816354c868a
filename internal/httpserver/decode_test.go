package httpserver

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeBytes(t *testing.T) {
	t.Parallel()
	type inner struct {
		Phone string `json:"phone"`
	}
	type target struct {
		Name     string `json:"name"`
		Age      int    `json:"age"`
		Customer inner  `json:"customer"`
	}
	tests := []struct {
		name   string
		body   string
		status int // 0: decoded
		code   string
		field  string
	}{
		{"valid", `{"name":"Ana","age":3,"customer":{"phone":"0414"}}`, 0, "", ""},
		{"valid with trailing space", "{\"name\":\"Ana\"}\n ", 0, "", ""},
		{"empty", ``, 400, "malformed_json", ""},
		{"truncated", `{"name":"Ana"`, 400, "malformed_json", ""},
		{"syntax", `{"name":}`, 400, "malformed_json", ""},
		{"two values", `{} {}`, 400, "malformed_json", ""},
		{"trailing garbage", `{}x`, 400, "malformed_json", ""},
		{"array", `[1]`, 400, "malformed_json", ""},
		{"string", `"hi"`, 400, "malformed_json", ""},
		{"unknown field", `{"name":"Ana","role":"admin"}`, 422, "validation_failed", "role"},
		{"unknown nested field", `{"customer":{"phone":"1","email":"x"}}`, 422, "validation_failed", "customer.email"},
		{"wrong type", `{"age":"three"}`, 422, "validation_failed", "age"},
		{"wrong nested type", `{"customer":{"phone":414}}`, 422, "validation_failed", "customer.phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dst target
			err := Decode([]byte(tt.body), &dst)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("decode error %v is not an *Error", err)
			}
			if e.Status != tt.status || e.Code != tt.code {
				t.Errorf("got %d %s, want %d %s (%s)", e.Status, e.Code, tt.status, tt.code, e.Message)
			}
			if tt.field != "" && e.Fields[tt.field] == "" {
				t.Errorf("fields = %v, want %q named", e.Fields, tt.field)
			}
			if strings.Contains(e.Message, "httpserver.") {
				t.Errorf("message %q exposes Go type names", e.Message)
			}
		})
	}
}
