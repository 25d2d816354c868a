package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The base names these Secrets and leaves creating them to an overlay.
var baseSecrets = []string{"verifier-secrets", "verifier-bank"}

func known(t *testing.T) map[string]bool {
	t.Helper()
	k, err := KnownEnv("../../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func abs(t *testing.T, rel string) string {
	t.Helper()
	d, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func overlayOptions(t *testing.T) Options { return Options{RequireKEDA: true, KnownEnv: known(t)} }

func render(t *testing.T, dir string) []byte {
	t.Helper()
	out, err := Render(filesys.MakeFsOnDisk(), abs(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBase(t *testing.T) {
	for _, p := range Run(filesys.MakeFsOnDisk(), abs(t, "../base"), Options{ExternalSecrets: baseSecrets, KnownEnv: known(t)}) {
		t.Error(p)
	}
}

func TestExampleOverlay(t *testing.T) {
	out := render(t, "../overlays/example")
	for _, p := range CheckYAML(out, overlayOptions(t)) {
		t.Error(p)
	}
	// Every kind the check knows is exercised, and each manifest file made it in.
	for _, want := range []string{"kind: Namespace", "kind: ConfigMap", "kind: Secret", "kind: Service", "kind: Deployment",
		"kind: Job", "kind: PodDisruptionBudget", "kind: ScaledObject", "namespace: verifier"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("overlay output has no %q", want)
		}
	}
	// Example secrets must look fake.
	objs, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if s, ok := o.Value.(*corev1.Secret); ok {
			for k, v := range s.Data {
				if !strings.Contains(string(v), "change-me") {
					t.Errorf("Secret %s key %s does not look fake (no change-me in it)", s.Name, k)
				}
			}
		}
	}
}

// A kustomization that patches an unknown field into a Deployment (a typo of
// readinessProbe) builds fine with kustomize, and must fail the check.
func TestUnknownFieldThroughKustomizeFails(t *testing.T) {
	fsys := filesys.MakeFsInMemory()
	root := abs(t, "..")
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		// Skip this program's own directory by its place under root: a test of
		// the path string alone would skip everything in a checkout that itself
		// lives under a directory called check.
		if info.IsDir() {
			if path == filepath.Join(root, "check") {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return fsys.WriteFile(path, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(root, "overlays", "broken")
	must(t, fsys.WriteFile(filepath.Join(broken, "kustomization.yaml"), []byte(`
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../example]
patches:
  - target: {kind: Deployment, name: verifier-api}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/readynessProbe
        value: {httpGet: {path: /health/ready, port: http}}
`)))
	problems := Run(fsys, broken, overlayOptions(t))
	if len(problems) != 1 || !strings.Contains(problems[0], `unknown field "spec.template.spec.containers[0].readynessProbe"`) {
		t.Fatalf("problems = %q; want one strict-decoding error naming readynessProbe", problems)
	}
	// And the unbroken example in the same file system passes, so the failure is the patch's.
	if p := Run(fsys, filepath.Join(root, "overlays", "example"), overlayOptions(t)); len(p) != 0 {
		t.Fatalf("the example overlay from the in-memory copy: %q", p)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Text edits of the rendered output that strict decoding or a rule must catch.
func TestBrokenTextFails(t *testing.T) {
	out := string(render(t, "../overlays/example"))
	for _, c := range []struct{ name, old, new, want string }{
		{"ScaledObject unknown field", "pollingInterval: 15", "pollingIntervall: 15", `unknown field "spec.pollingIntervall"`},
		{"Service unknown field", "targetPort: http", "targetport: http", `unknown field "spec.ports[0].targetport"`},
		{"Job duplicated field", "backoffLimit: 4", "backoffLimit: 4\n  backoffLimit: 5", "already set in map"},
		{"Kind unknown to the check", "kind: Namespace", "kind: NetworkPolicy", "not a kind this check knows"},
		{"KEDA list without the hash tag", "listName: asynq:{verify}:pending", "listName: asynq:verify:pending", "no trigger reads asynq:{verify}:pending"},
		{"image latest", "registry.example.com/verifier:0.1.0", "registry.example.com/verifier:latest", `pin a version, not "latest"`},
		{"image without tag", "registry.example.com/verifier:0.1.0", "registry.example.com/verifier", "has no tag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(out, c.old) {
				t.Fatalf("the output has no %q to break", c.old)
			}
			problems := CheckYAML([]byte(strings.ReplaceAll(out, c.old, c.new)), overlayOptions(t))
			if !containsProblem(problems, c.want) {
				t.Fatalf("problems = %q; want one containing %q", problems, c.want)
			}
		})
	}
}

func containsProblem(problems []string, want string) bool {
	for _, p := range problems {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}

// Edits of the decoded objects, one rule each: every rule can fail.
func TestBrokenObjectsFail(t *testing.T) {
	out := render(t, "../overlays/example")
	find := func(objs []Object, kind, prefix string) any {
		for _, o := range objs {
			if o.Kind == kind && strings.HasPrefix(o.Name, prefix) {
				return o.Value
			}
		}
		t.Fatalf("no %s %s*", kind, prefix)
		return nil
	}
	dep := func(objs []Object, name string) *appsv1.Deployment {
		return find(objs, "Deployment", name).(*appsv1.Deployment)
	}
	cm := func(objs []Object) *corev1.ConfigMap {
		return find(objs, "ConfigMap", "verifier-config").(*corev1.ConfigMap)
	}
	without := func(objs []Object, kind, name string) []Object {
		var keep []Object
		for _, o := range objs {
			if o.Kind != kind || o.Name != name {
				keep = append(keep, o)
			}
		}
		return keep
	}
	for _, c := range []struct {
		name   string
		break_ func([]Object) []Object
		want   string
	}{
		{"api without readiness", func(o []Object) []Object {
			dep(o, "verifier-api").Spec.Template.Spec.Containers[0].ReadinessProbe = nil
			return o
		}, "verifier-api readinessProbe: want an httpGet probe on /health/ready"},
		{"api liveness on the wrong path", func(o []Object) []Object {
			dep(o, "verifier-api").Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/health/ready"
			return o
		}, `livenessProbe: path "/health/ready", want "/health/live"`},
		{"worker grace too short", func(o []Object) []Object {
			g := int64(30)
			dep(o, "verifier-worker").Spec.Template.Spec.TerminationGracePeriodSeconds = &g
			return o
		}, "terminationGracePeriodSeconds 30s must exceed"},
		{"longer shutdown timeout, same grace", func(o []Object) []Object {
			cm(o).Data["WORKER_SHUTDOWN_TIMEOUT"] = "30s"
			return o
		}, "must exceed 2 x WORKER_SHUTDOWN_TIMEOUT + 5 s = 1m5s"},
		{"Job that does not migrate", func(o []Object) []Object {
			find(o, "Job", "verifier-migrate").(*batchv1.Job).Spec.Template.Spec.Containers[0].Command = []string{"api", "migrate", "status"}
			return o
		}, "0 Job containers run `api migrate up`"},
		{"API migrating at start", func(o []Object) []Object {
			cm(o).Data["MIGRATE_ON_START"] = "true"
			return o
		}, "MIGRATE_ON_START must be false"},
		{"no schema wait", func(o []Object) []Object {
			dep(o, "verifier-worker").Spec.Template.Spec.InitContainers = nil
			return o
		}, "verifier-worker: no initContainer runs `api migrate wait`"},
		{"envFrom a missing ConfigMap", func(o []Object) []Object {
			dep(o, "verifier-api").Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name = "verifier-conf"
			return o
		}, `envFrom ConfigMap "verifier-conf" is not in the output`},
		{"missing Secret", func(o []Object) []Object {
			return without(o, "Secret", find(o, "Secret", "verifier-bank").(*corev1.Secret).Name)
		}, "is not in the output"},
		{"literal env", func(o []Object) []Object {
			c := &dep(o, "verifier-worker").Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "JWT_SECRET", Value: "hunter2hunter2hunter2"})
			return o
		}, "env JWT_SECRET is a literal"},
		{"secret in the ConfigMap", func(o []Object) []Object {
			cm(o).Data["JWT_SECRET"] = "x"
			return o
		}, "holds JWT_SECRET: secrets belong in a Secret"},
		{"a setting nobody reads", func(o []Object) []Object {
			cm(o).Data["WORKER_CONCURENCY"] = "20"
			return o
		}, "sets WORKER_CONCURENCY, which no binary reads"},
		{"production bank without its URL", func(o []Object) []Object {
			delete(cm(o).Data, "BANESCO_PROD_API_URL")
			return o
		}, "BANESCO_ENVIRONMENT=production without BANESCO_PROD_API_URL"},
		{"no worker PDB", func(o []Object) []Object { return without(o, "PodDisruptionBudget", "verifier-worker") },
			"no PodDisruptionBudget selects the pods of Deployment verifier-worker"},
		{"PDB selecting nothing", func(o []Object) []Object {
			find(o, "PodDisruptionBudget", "verifier-api").(*policyv1.PodDisruptionBudget).Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "api"
			return o
		}, "no PodDisruptionBudget selects the pods of Deployment verifier-api"},
		{"Service selecting nothing", func(o []Object) []Object {
			find(o, "Service", "verifier-api").(*corev1.Service).Spec.Selector["app.kubernetes.io/name"] = "api"
			return o
		}, "no Service selects the API's pods on port 8080"},
		{"no scrape annotation", func(o []Object) []Object {
			delete(dep(o, "verifier-worker").Spec.Template.Annotations, "prometheus.io/scrape")
			return o
		}, "verifier-worker: pod annotations must say prometheus.io/scrape"},
		{"writable root", func(o []Object) []Object {
			f := false
			dep(o, "verifier-api").Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
			return o
		}, "container api: securityContext.readOnlyRootFilesystem must be true"},
		{"capabilities kept", func(o []Object) []Object {
			dep(o, "verifier-worker").Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil
			return o
		}, "capabilities.drop must include ALL"},
		{"root user", func(o []Object) []Object {
			u := int64(0)
			find(o, "Job", "verifier-migrate").(*batchv1.Job).Spec.Template.Spec.SecurityContext.RunAsUser = &u
			return o
		}, "Job verifier-migrate: pod securityContext must set runAsNonRoot"},
		{"no memory limit", func(o []Object) []Object {
			delete(dep(o, "verifier-worker").Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
			return o
		}, "container worker: no memory limit"},
		{"replicas beside KEDA", func(o []Object) []Object {
			r := int32(2)
			dep(o, "verifier-worker").Spec.Replicas = &r
			return o
		}, "replicas is set while a ScaledObject owns the count"},
		{"KEDA on another Redis", func(o []Object) []Object {
			cm(o).Data["REDIS_URL"] = "redis://redis-main:6379/2"
			return o
		}, `address "redis:6379" is not REDIS_URL's "redis-main:6379"`},
		{"no ScaledObject", func(o []Object) []Object { return without(o, "ScaledObject", "verifier-worker") },
			"no ScaledObject targets Deployment verifier-worker"},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs, err := Decode(out) // fresh objects for every case
			if err != nil {
				t.Fatal(err)
			}
			if p := Check(objs, overlayOptions(t)); len(p) != 0 {
				t.Fatalf("unbroken: %q", p)
			}
			problems := Check(c.break_(objs), overlayOptions(t))
			if !containsProblem(problems, c.want) {
				t.Fatalf("problems = %q; want one containing %q", problems, c.want)
			}
		})
	}
}
