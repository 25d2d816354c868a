// Command loadgen is `make bench`: it starts the real binaries (API, N workers,
// the bank sandbox) against a private Postgres cluster and a private Redis, runs
// six scenarios — each next to a baseline measured in the same run, so ratios
// hold on a noisy machine — and writes bench/results/<date>/report.md with PNG
// plots. -quick runs a reduced version in under two minutes.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/banesco-verifier/verifier/internal/buildinfo"
	"github.com/banesco-verifier/verifier/internal/systest"
)

type settings struct {
	quick         bool
	runs          int           // repetitions; figures are medians
	duration      time.Duration // per create-throughput point
	conc          []int
	drainQ        int         // Q of the webhook scenario's drain
	drainCases    []drainCase // scenario 2
	latencyN      int
	readRows      int
	readReqs      int
	memTasks      int
	webhookN      int // transactions of the webhook scenario (×3 endpoints)
	webhookDrainN int
	outDir        string
	only          string // -only: scenario numbers to run
	binDir        string
	scratchDir    string
}

func main() {
	var s settings
	flag.BoolVar(&s.quick, "quick", false, "reduced sizes, one run: under two minutes")
	flag.StringVar(&s.outDir, "out", "", "output directory (default bench/results/<date>)")
	qFlag := flag.Int("q", 200, "BANESCO_MAX_RPS for the webhook scenario's drain")
	flag.StringVar(&s.only, "only", "", "run only these scenarios, by number (e.g. 6 or 2,6); the report then has only their sections filled")
	drainFlag := flag.String("drain", "", "scenario 2's cases as Q/workers/N,… (e.g. 200/1/12000), instead of the default ones")
	runsFlag := flag.Int("runs", 0, "repetitions of each scenario (default 3, 1 with -quick)")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), "loadgen is make bench: it starts the real api, worker and bank-sandbox binaries against\n"+
			"a private Postgres cluster and Redis, runs the benchmark scenarios and writes a report.\n\n"+
			"usage: loadgen [-quick] [-out dir] [-q rps]   |   loadgen --version\n\nflags:\n")
		flag.PrintDefaults()
		fmt.Fprint(flag.CommandLine.Output(), "\nenvironment: TEST_DATABASE_URL is not used (it runs its own Postgres); PATH must hold\n"+
			"redis-server and Postgres 15 (/usr/lib/postgresql/15/bin).\n")
	}
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.String("loadgen"))
		return
	}
	flag.Parse()
	s.drainQ = *qFlag
	if s.quick {
		s.runs, s.duration, s.conc = 1, 2*time.Second, []int{1, 16, 64}
		s.drainCases, s.latencyN = []drainCase{{Q: 100, Workers: 1, N: 600}, {Q: 100, Workers: 2, N: 600}}, 20
		s.readRows, s.readReqs, s.memTasks = 50_000, 20, 5_000
		s.webhookN, s.webhookDrainN = 100, 600
	} else {
		s.runs, s.duration, s.conc = 3, 10*time.Second, []int{1, 16, 64}
		// Q = 100 so that 4 workers and the sandbox fit on 2 cores; about a
		// minute of draining per run at each point.
		s.drainCases = []drainCase{{Q: 100, Workers: 1, N: 6000}, {Q: 100, Workers: 2, N: 6000},
			{Q: 100, Workers: 4, N: 6000}, {Q: 200, Workers: 1, N: 12000}}
		s.latencyN = 200
		s.readRows, s.readReqs, s.memTasks = 1_000_000, 200, 100_000
		s.webhookN, s.webhookDrainN = 1_000, 4_000
	}
	if *drainFlag != "" {
		s.drainCases = nil
		for _, c := range strings.Split(*drainFlag, ",") {
			var dc drainCase
			if _, err := fmt.Sscanf(c, "%d/%d/%d", &dc.Q, &dc.Workers, &dc.N); err != nil || dc.Q <= 0 || dc.Workers <= 0 || dc.N <= 0 {
				fmt.Fprintf(os.Stderr, "loadgen: -drain %q: want Q/workers/N, e.g. 200/1/12000\n", c)
				os.Exit(2)
			}
			s.drainCases = append(s.drainCases, dc)
		}
	}
	if *runsFlag > 0 {
		s.runs = *runsFlag
	}
	if s.outDir == "" {
		name := time.Now().UTC().Format("2006-01-02")
		if s.quick {
			name += "-quick"
		}
		s.outDir = filepath.Join("bench", "results", name)
	}
	// Keep connections alive at every concurrency level (the default keeps 2).
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 256
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, s settings) error {
	if err := os.MkdirAll(s.outDir, 0o755); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	s.scratchDir = scratch
	s.binDir = filepath.Join(scratch, "bin")
	progress("building binaries")
	if err := systest.Build(s.binDir); err != nil {
		return err
	}
	r := &report{settings: s, started: time.Now()}
	steps := []struct {
		name string
		fn   func(context.Context, settings, *report) error
	}{
		{"1 create throughput", benchCreate},
		{"2 pipeline drain", benchDrain},
		{"3 latency", benchLatency},
		{"4 reads at scale", benchReads},
		{"5 worker memory", benchWorkerMemory},
		{"6 webhooks", benchWebhooks},
		{"7 backlog fairness", benchBacklog},
	}
	for _, st := range steps {
		if s.only != "" && !slices.Contains(strings.Split(s.only, ","), st.name[:1]) {
			continue
		}
		progress("scenario " + st.name)
		if err := st.fn(ctx, s, r); err != nil {
			return fmt.Errorf("scenario %s: %w", st.name, err)
		}
	}
	path, err := r.write()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nreport: %s\n", path)
	return nil
}

// cluster starts the system for one scenario in its own scratch directory.
func cluster(ctx context.Context, s settings, name string, o systest.Options) (*systest.Cluster, error) {
	o.Dir = filepath.Join(s.scratchDir, name)
	o.BinDir = s.binDir
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	o.ExtraEnv = append(o.ExtraEnv, "LOG_LEVEL=warn")
	c, err := systest.Start(ctx, o)
	if err != nil && c != nil {
		c.Close()
	}
	return c, err
}
