package systest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryBinaryAnswersHelpAndVersion: -h/--help print the commands and the
// environment and exit 0; --version prints the version stamped by the build.
func TestEveryBinaryAnswersHelpAndVersion(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: builds the binaries")
	}
	dir := t.TempDir()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-ldflags",
		"-X github.com/banesco-verifier/verifier/internal/buildinfo.Version=v9.9.9 -X github.com/banesco-verifier/verifier/internal/buildinfo.Commit=abc1234",
		"-o", dir+"/", "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for bin, want := range map[string]string{"api": "DATABASE_URL", "worker": "BANESCO_GRANT_TYPE", "bank-sandbox": "SANDBOX_ADDR", "loadgen": "-quick"} {
		for _, arg := range []string{"-h", "--help"} {
			out, err := exec.Command(filepath.Join(dir, bin), arg).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "usage") || !strings.Contains(string(out), want) {
				t.Errorf("%s %s: %v\n%s", bin, arg, err, out)
			}
		}
		out, err := exec.Command(filepath.Join(dir, bin), "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), bin+" v9.9.9 (commit abc1234") {
			t.Errorf("%s --version: %v %s", bin, err, out)
		}
	}
}
