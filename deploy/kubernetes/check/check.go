package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Options says what a build must contain.
type Options struct {
	// ExternalSecrets may be referred to without being in the output (the base
	// only names the Secrets an overlay or an operator creates).
	ExternalSecrets []string
	// RequireKEDA: the output must scale the workers with a ScaledObject.
	RequireKEDA bool
	// KnownEnv is every variable a ConfigMap or Secret may set (.env.example
	// plus the Redis topology variables); nil skips that check.
	KnownEnv map[string]bool
}

// SecretEnv are variables whose values must never sit in a ConfigMap.
var SecretEnv = []string{"DATABASE_URL", "JWT_SECRET", "WEBHOOK_SECRET_KEY", "ADMIN_PASSWORD",
	"BANESCO_QA_CLIENT_SECRET", "BANESCO_PROD_CLIENT_SECRET", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"}

// AsynqPendingKey is where Asynq keeps a queue's pending tasks (hibiken/asynq
// internal/base.PendingKey); KEDA must read this list to see the backlog.
func AsynqPendingKey(queue string) string { return "asynq:{" + queue + "}:pending" }

type problems []string

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Sprintf(format, a...)) }

// Check asserts what the deployment relies on; each problem is one line.
func Check(objs []Object, opt Options) []string {
	var p problems
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	var deployments []*appsv1.Deployment
	var jobs []*batchv1.Job
	var services []*corev1.Service
	var pdbs []*policyv1.PodDisruptionBudget
	var scaled []*ScaledObject
	for _, o := range objs {
		switch v := o.Value.(type) {
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		case *corev1.Secret:
			secrets[v.Name] = v
		case *appsv1.Deployment:
			deployments = append(deployments, v)
		case *batchv1.Job:
			jobs = append(jobs, v)
		case *corev1.Service:
			services = append(services, v)
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, v)
		case *ScaledObject:
			scaled = append(scaled, v)
		}
	}

	for name, cm := range configMaps {
		for k := range cm.Data {
			if slices.Contains(SecretEnv, k) {
				p.add("ConfigMap %s holds %s: secrets belong in a Secret", name, k)
			}
			if opt.KnownEnv != nil && !opt.KnownEnv[k] {
				p.add("ConfigMap %s sets %s, which no binary reads (not in .env.example)", name, k)
			}
		}
	}
	for name, s := range secrets {
		for _, k := range append(keys(s.Data), keys(s.StringData)...) {
			if opt.KnownEnv != nil && !opt.KnownEnv[k] {
				p.add("Secret %s sets %s, which no binary reads (not in .env.example)", name, k)
			}
		}
	}

	// env resolves a pod's container environment from the objects in the output:
	// every reference must exist (or be an allowed external Secret).
	env := func(where string, c corev1.Container) map[string]string {
		out := map[string]string{}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				cm, ok := configMaps[ef.ConfigMapRef.Name]
				if !ok {
					p.add("%s: envFrom ConfigMap %q is not in the output", where, ef.ConfigMapRef.Name)
					continue
				}
				for k, v := range cm.Data {
					out[ef.Prefix+k] = v
				}
			case ef.SecretRef != nil:
				s, ok := secrets[ef.SecretRef.Name]
				if !ok {
					if !slices.Contains(opt.ExternalSecrets, ef.SecretRef.Name) {
						p.add("%s: envFrom Secret %q is not in the output", where, ef.SecretRef.Name)
					}
					continue
				}
				for k, v := range s.Data {
					out[ef.Prefix+k] = string(v)
				}
				for k, v := range s.StringData {
					out[ef.Prefix+k] = v
				}
			}
		}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				p.add("%s: env %s is a literal; settings go in the ConfigMap, secrets in a Secret", where, e.Name)
			case e.ValueFrom.ConfigMapKeyRef != nil:
				r := e.ValueFrom.ConfigMapKeyRef
				if cm, ok := configMaps[r.Name]; !ok {
					p.add("%s: env %s: ConfigMap %q is not in the output", where, e.Name, r.Name)
				} else if v, ok := cm.Data[r.Key]; !ok {
					p.add("%s: env %s: ConfigMap %q has no key %s", where, e.Name, r.Name, r.Key)
				} else {
					out[e.Name] = v
				}
			case e.ValueFrom.SecretKeyRef != nil:
				r := e.ValueFrom.SecretKeyRef
				if s, ok := secrets[r.Name]; ok {
					if v, ok := s.Data[r.Key]; ok {
						out[e.Name] = string(v)
					} else if v, ok := s.StringData[r.Key]; ok {
						out[e.Name] = v
					} else {
						p.add("%s: env %s: Secret %q has no key %s", where, e.Name, r.Name, r.Key)
					}
				} else if !slices.Contains(opt.ExternalSecrets, r.Name) {
					p.add("%s: env %s: Secret %q is not in the output", where, e.Name, r.Name)
				}
			}
		}
		return out
	}
	// external reports whether some of a container's environment comes from a
	// Secret that is not in the output (then required keys cannot be checked).
	external := func(c corev1.Container) bool {
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && secrets[ef.SecretRef.Name] == nil {
				return true
			}
		}
		return false
	}

	checkPod := func(where string, meta metav1.ObjectMeta, spec corev1.PodSpec) {
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 10001 {
			p.add("%s: pod securityContext must set runAsNonRoot: true and runAsUser: 10001 (the image's user)", where)
		}
		all := append(slices.Clone(spec.InitContainers), spec.Containers...)
		for _, c := range all {
			cw := where + " container " + c.Name
			checkImage(&p, cw, c.Image)
			csc := c.SecurityContext
			if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
				p.add("%s: securityContext.readOnlyRootFilesystem must be true", cw)
			}
			if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
				p.add("%s: securityContext.allowPrivilegeEscalation must be false", cw)
			}
			if csc == nil || csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
				p.add("%s: securityContext.capabilities.drop must include ALL", cw)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					p.add("%s: no %s request", cw, r)
				}
				if _, ok := c.Resources.Limits[r]; !ok {
					p.add("%s: no %s limit", cw, r)
				}
			}
			e := env(cw, c)
			if !external(c) {
				for _, k := range []string{"DATABASE_URL", "JWT_SECRET"} {
					if e[k] == "" {
						p.add("%s: %s is not set", cw, k)
					}
				}
			}
		}
	}

	var apiDep, workerDep *appsv1.Deployment
	for _, d := range deployments {
		where := "Deployment " + d.Name
		if d.Spec.Selector == nil || !selects(d.Spec.Selector, d.Spec.Template.Labels) {
			p.add("%s: its selector does not match its pod template's labels", where)
		}
		checkPod(where, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec)
		for _, c := range d.Spec.Template.Spec.Containers {
			switch strings.Join(c.Command, " ") {
			case "api":
				apiDep = d
			case "worker":
				workerDep = d
			}
		}
	}

	if apiDep == nil {
		p.add("no Deployment runs the API (command [api])")
	} else {
		where := "Deployment " + apiDep.Name
		c := container(apiDep, "api")
		checkHTTPProbe(&p, where+" readinessProbe", c, c.ReadinessProbe, "/health/ready", 8080)
		checkHTTPProbe(&p, where+" livenessProbe", c, c.LivenessProbe, "/health/live", 8080)
		checkScrape(&p, where, apiDep.Spec.Template.Annotations, 8080)
		if e := env(where, *c); e["MIGRATE_ON_START"] != "false" && !external(*c) {
			p.add("%s: MIGRATE_ON_START must be false: every replica would migrate at once, racing the Job", where)
		}
		checkWaitsForSchema(&p, where, apiDep.Spec.Template.Spec)
		checkPDB(&p, pdbs, apiDep)
		found := false
		for _, s := range services {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(apiDep.Spec.Template.Labels)) {
				for _, sp := range s.Spec.Ports {
					if resolvePort(c, sp.TargetPort.String()) == 8080 || (sp.TargetPort.IntVal == 0 && sp.TargetPort.StrVal == "" && sp.Port == 8080) {
						found = true
					}
				}
			}
		}
		if !found {
			p.add("no Service selects the API's pods on port 8080")
		}
	}

	if workerDep == nil {
		p.add("no Deployment runs the worker (command [worker])")
	} else {
		where := "Deployment " + workerDep.Name
		c := container(workerDep, "worker")
		checkHTTPProbe(&p, where+" readinessProbe", c, c.ReadinessProbe, "/health", 9091)
		if c.LivenessProbe == nil {
			p.add("%s: no livenessProbe", where)
		}
		checkScrape(&p, where, workerDep.Spec.Template.Annotations, 9091)
		checkWaitsForSchema(&p, where, workerDep.Spec.Template.Spec)
		checkPDB(&p, pdbs, workerDep)
		e := env(where, *c)
		shutdown := 15 * time.Second // config's default
		if v, ok := e["WORKER_SHUTDOWN_TIMEOUT"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				p.add("%s: WORKER_SHUTDOWN_TIMEOUT %q: %v", where, v, err)
			}
			shutdown = d
		}
		// Two Asynq servers shut down in turn, each up to the timeout, then 5 s
		// for the HTTP server (cmd/worker/main.go).
		need := 2*shutdown + 5*time.Second
		grace := 30 * time.Second
		if g := workerDep.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		if grace <= need {
			p.add("%s: terminationGracePeriodSeconds %v must exceed 2 x WORKER_SHUTDOWN_TIMEOUT + 5 s = %v, or in-flight checks are killed", where, grace, need)
		}
		if !external(*c) && e["BANESCO_ENVIRONMENT"] == "production" {
			for _, k := range []string{"BANESCO_PROD_AUTH_URL", "BANESCO_PROD_API_URL", "BANESCO_PROD_CLIENT_ID", "BANESCO_PROD_CLIENT_SECRET"} {
				if e[k] == "" {
					p.add("%s: BANESCO_ENVIRONMENT=production without %s (the worker would not start)", where, k)
				}
			}
		}

		var mine []*ScaledObject
		for _, so := range scaled {
			if so.Spec.ScaleTargetRef.Name == workerDep.Name && (so.Spec.ScaleTargetRef.Kind == "" || so.Spec.ScaleTargetRef.Kind == "Deployment") {
				mine = append(mine, so)
			}
		}
		if opt.RequireKEDA && len(mine) == 0 {
			p.add("no ScaledObject targets %s", where)
		}
		if len(mine) > 0 && workerDep.Spec.Replicas != nil {
			p.add("%s: replicas is set while a ScaledObject owns the count (every apply would reset it)", where)
		}
		for _, so := range mine {
			checkScaledObject(&p, so, e)
		}
	}
	for _, so := range scaled {
		if workerDep == nil || so.Spec.ScaleTargetRef.Name != workerDep.Name {
			p.add("ScaledObject %s targets %q, which is not the worker Deployment", so.Metadata.Name, so.Spec.ScaleTargetRef.Name)
		}
	}

	migrations := 0
	for _, j := range jobs {
		checkPod("Job "+j.Name, j.Spec.Template.ObjectMeta, j.Spec.Template.Spec)
		for _, c := range j.Spec.Template.Spec.Containers {
			if cmd := strings.Join(append(slices.Clone(c.Command), c.Args...), " "); cmd == "api migrate" || cmd == "api migrate up" {
				migrations++
			}
		}
	}
	if migrations != 1 {
		p.add("%d Job containers run `api migrate up`; want exactly 1", migrations)
	}
	slices.Sort(p)
	return p
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(set))
}

func container(d *appsv1.Deployment, command string) *corev1.Container {
	for i, c := range d.Spec.Template.Spec.Containers {
		if strings.Join(c.Command, " ") == command {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

// resolvePort turns a probe's or Service's port (a number or a name) into the
// container port number.
func resolvePort(c *corev1.Container, port string) int32 {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	return 0
}

func checkImage(p *problems, where, image string) {
	if i := strings.Index(image, "@sha256:"); i > 0 {
		return
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < slash+1 {
		p.add("%s: image %q has no tag: pin a version", where, image)
		return
	}
	if tag := image[colon+1:]; tag == "latest" || tag == "" {
		p.add("%s: image %q: pin a version, not %q", where, image, tag)
	}
}

func checkHTTPProbe(p *problems, where string, c *corev1.Container, pr *corev1.Probe, path string, port int32) {
	if pr == nil || pr.HTTPGet == nil {
		p.add("%s: want an httpGet probe on %s", where, path)
		return
	}
	if pr.HTTPGet.Path != path {
		p.add("%s: path %q, want %q", where, pr.HTTPGet.Path, path)
	}
	if got := resolvePort(c, pr.HTTPGet.Port.String()); got != port {
		p.add("%s: port %s is not container port %d", where, pr.HTTPGet.Port.String(), port)
	}
}

func checkScrape(p *problems, where string, ann map[string]string, port int32) {
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != fmt.Sprint(port) || ann["prometheus.io/path"] != "/metrics" {
		p.add("%s: pod annotations must say prometheus.io/scrape \"true\", port %q, path /metrics", where, fmt.Sprint(port))
	}
}

func checkWaitsForSchema(p *problems, where string, spec corev1.PodSpec) {
	for _, c := range spec.InitContainers {
		if strings.Join(append(slices.Clone(c.Command), c.Args...), " ") == "api migrate wait" {
			return
		}
	}
	p.add("%s: no initContainer runs `api migrate wait`: the pods would start before the Job has migrated", where)
}

func checkPDB(p *problems, pdbs []*policyv1.PodDisruptionBudget, d *appsv1.Deployment) {
	for _, b := range pdbs {
		if b.Spec.Selector != nil && selects(b.Spec.Selector, d.Spec.Template.Labels) {
			if b.Spec.MinAvailable == nil && b.Spec.MaxUnavailable == nil {
				p.add("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", b.Name)
			}
			return
		}
	}
	p.add("no PodDisruptionBudget selects the pods of Deployment %s", d.Name)
}

// checkScaledObject: the trigger reads Asynq's pending list of the verify queue
// on the Redis the worker uses.
func checkScaledObject(p *problems, so *ScaledObject, env map[string]string) {
	where := "ScaledObject " + so.Metadata.Name
	minR, maxR := int32(1), int32(100)
	if so.Spec.MinReplicaCount != nil {
		minR = *so.Spec.MinReplicaCount
	}
	if so.Spec.MaxReplicaCount != nil {
		maxR = *so.Spec.MaxReplicaCount
	}
	if minR < 1 || maxR < minR {
		p.add("%s: want 1 <= minReplicaCount <= maxReplicaCount, got %d and %d", where, minR, maxR)
	}
	var redisHost, redisDB string
	if u, err := url.Parse(env["REDIS_URL"]); err == nil && env["REDIS_URL"] != "" {
		redisHost, redisDB = u.Host, strings.TrimPrefix(u.Path, "/")
		if redisDB == "" {
			redisDB = "0"
		}
		if !strings.Contains(redisHost, ":") {
			redisHost += ":6379"
		}
	}
	verify := false
	for i, t := range so.Spec.Triggers {
		tw := fmt.Sprintf("%s trigger %d", where, i)
		if !slices.Contains([]string{"redis", "redis-sentinel", "redis-cluster"}, t.Type) {
			p.add("%s: type %q, want redis, redis-sentinel or redis-cluster", tw, t.Type)
			continue
		}
		if t.Metadata["listName"] == AsynqPendingKey("verify") {
			verify = true
		}
		if !strings.HasPrefix(t.Metadata["listName"], "asynq:{") || !strings.HasSuffix(t.Metadata["listName"], "}:pending") {
			p.add("%s: listName %q is not an Asynq pending list (asynq:{<queue>}:pending)", tw, t.Metadata["listName"])
		}
		if t.Metadata["listLength"] == "" {
			p.add("%s: no listLength (the backlog per replica to aim for)", tw)
		}
		if t.Type == "redis" && redisHost != "" && env["REDIS_SENTINEL_ADDRS"] == "" && env["REDIS_CLUSTER_ADDRS"] == "" {
			if t.Metadata["address"] != redisHost {
				p.add("%s: address %q is not REDIS_URL's %q: KEDA would watch another Redis", tw, t.Metadata["address"], redisHost)
			}
			if db := t.Metadata["databaseIndex"]; db != redisDB && !(db == "" && redisDB == "0") {
				p.add("%s: databaseIndex %q is not REDIS_URL's %q", tw, db, redisDB)
			}
		}
	}
	if !verify {
		p.add("%s: no trigger reads %s, the verify queue's pending list", where, AsynqPendingKey("verify"))
	}
}
