// Command check builds kustomizations of deploy/kubernetes offline and checks
// what the deployment relies on: every document decodes strictly into its
// Kubernetes type (KEDA's into a strict struct), and the semantic rules of
// Check hold (probes, grace period, the migration Job, the KEDA trigger, env
// references, pinned images, pod security). `make k8s-check` runs its tests,
// which check the base and the example overlay, and prove each rule can fail.
//
//	go run . [-keda] [-external-secrets verifier-secrets,verifier-bank] <kustomization dir>
//
// checks any other overlay the same way (run from this directory).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var envLine = regexp.MustCompile(`^#?\s*([A-Z][A-Z0-9_]*)=`)

// KnownEnv reads the variable names of .env.example (set or commented out).
func KnownEnv(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	known := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := envLine.FindStringSubmatch(sc.Text()); m != nil {
			known[m[1]] = true
		}
	}
	return known, sc.Err()
}

func main() {
	keda := flag.Bool("keda", false, "require a ScaledObject for the workers")
	external := flag.String("external-secrets", "", "comma-separated Secrets created outside the kustomization")
	envExample := flag.String("env-example", "../../../.env.example", "the .env.example listing every variable")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: check [-keda] [-external-secrets a,b] <kustomization dir>")
		os.Exit(2)
	}
	known, err := KnownEnv(*envExample)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	}
	opt := Options{RequireKEDA: *keda, KnownEnv: known}
	if *external != "" {
		opt.ExternalSecrets = strings.Split(*external, ",")
	}
	dir, _ := filepath.Abs(flag.Arg(0))
	if errs := Run(filesys.MakeFsOnDisk(), dir, opt); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, dir+":", e)
		}
		os.Exit(1)
	}
	fmt.Println(dir + ": ok")
}

// Run builds, decodes and checks one kustomization.
func Run(fsys filesys.FileSystem, dir string, opt Options) []string {
	out, err := Render(fsys, dir)
	if err != nil {
		return []string{err.Error()}
	}
	return CheckYAML(out, opt)
}

// CheckYAML decodes and checks a rendered stream.
func CheckYAML(stream []byte, opt Options) []string {
	objs, err := Decode(stream)
	if err != nil {
		return []string{"strict decoding: " + err.Error()}
	}
	return Check(objs, opt)
}
