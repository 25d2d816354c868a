package api_test

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/banesco-verifier/verifier/openapi/spectest"
)

// TestAPIGuideMatchesTheSpec keeps docs/api.md in step with openapi.yaml:
// every operation of the spec is in the guide and every route of the guide
// in the spec, and the guide's table of error codes is exactly the spec's
// ErrorCode enum.
func TestAPIGuideMatchesTheSpec(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(raw)
	doc := spectest.Load(t)

	var specOps []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			specOps = append(specOps, method+" "+path)
		}
	}
	var guideOps []string
	for _, m := range regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE) (/[^` ]*)`").FindAllStringSubmatch(guide, -1) {
		guideOps = append(guideOps, m[1]+" "+m[2])
	}
	if missing, extra := diff(specOps, guideOps); len(missing)+len(extra) > 0 {
		t.Errorf("spec operations missing from docs/api.md: %v\nroutes in docs/api.md the spec does not have: %v", missing, extra)
	}

	var specCodes []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		specCodes = append(specCodes, v.(string))
	}
	var guideCodes []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| [0-9]{3} \\|").FindAllStringSubmatch(guide, -1) {
		guideCodes = append(guideCodes, m[1])
	}
	if len(specCodes) == 0 {
		t.Fatal("the spec has no ErrorCode enum")
	}
	if missing, extra := diff(specCodes, guideCodes); len(missing)+len(extra) > 0 {
		t.Errorf("error codes of the spec missing from docs/api.md: %v\ncodes in docs/api.md the spec does not list: %v", missing, extra)
	}
}

// diff returns what want has that got lacks, and what got has that want lacks.
func diff(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}
